using System.Reflection;

namespace Asio2.Rx.Tests.Core;

/// <summary>
/// Guards the public surface of each package: any added, removed or changed public member shows up as a diff against
/// its PublicApi.txt. After an intended change, run with ASIO2RX_UPDATE_API=1 to rewrite the files and commit them.
/// </summary>
public class PublicApiTests
{
    [Theory]
    [InlineData("Asio2.Rx", "Core/PublicApi.txt")]
    [InlineData("Asio2.Rx.Hosting", "Hosting/PublicApi.txt")]
    public void PublicSurface_MatchesTheApprovedSnapshot(string assemblyName, string snapshot)
    {
        string actual = string.Join("\n", Describe(Assembly.Load(assemblyName))) + "\n";
        string path = Path.Combine(TestProjectDirectory(), snapshot);
        if (Environment.GetEnvironmentVariable("ASIO2RX_UPDATE_API") == "1")
        {
            File.WriteAllText(path, actual);
            return;
        }
        Assert.True(File.Exists(path), $"{path} is missing; run the tests once with ASIO2RX_UPDATE_API=1");
        string approved = File.ReadAllText(path).Replace("\r\n", "\n");
        if (approved == actual) return;
        var expectedLines = approved.Split('\n').ToHashSet();
        var actualLines = actual.Split('\n').ToHashSet();
        var added = actualLines.Except(expectedLines).Select(l => "+ " + l);
        var removed = expectedLines.Except(actualLines).Select(l => "- " + l);
        Assert.Fail("The public API changed (set ASIO2RX_UPDATE_API=1 to approve):\n" + string.Join("\n", added.Concat(removed)));
    }

    /// <summary>The test project's folder, found from the test assembly upwards. Not [CallerFilePath]: CI builds
    /// (ContinuousIntegrationBuild) map source paths to /_/, which exists nowhere.</summary>
    private static string TestProjectDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Asio2.Rx.Tests.csproj"))) return dir.FullName;
            var nested = Path.Combine(dir.FullName, "Asio2.Rx.Tests");
            if (File.Exists(Path.Combine(nested, "Asio2.Rx.Tests.csproj"))) return nested;
        }
        throw new DirectoryNotFoundException("Asio2.Rx.Tests.csproj was not found above " + AppContext.BaseDirectory);
    }

    private static IEnumerable<string> Describe(Assembly assembly)
    {
        const BindingFlags flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var type in assembly.GetExportedTypes().OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            yield return $"{Kind(type)} {Name(type)}{Bases(type)}";
            var members = type.GetMembers(flags)
                .Where(m => m is not MethodInfo { IsSpecialName: true } || m.Name.StartsWith("op_", StringComparison.Ordinal))
                .Select(m => "  " + Member(m))
                .OrderBy(s => s, StringComparer.Ordinal);
            foreach (var m in members) yield return m;
        }
    }

    private static string Kind(Type t) =>
        t.IsEnum ? "enum" : t.IsInterface ? "interface" : t.IsValueType ? "struct" :
        typeof(Delegate).IsAssignableFrom(t) ? "delegate" :
        t is { IsAbstract: true, IsSealed: true } ? "static class" : t.IsAbstract ? "abstract class" : t.IsSealed ? "sealed class" : "class";

    private static string Bases(Type t)
    {
        var list = new List<string>();
        if (t.BaseType is { } b && b != typeof(object) && b != typeof(ValueType) && b != typeof(Enum) && b != typeof(MulticastDelegate)) list.Add(Name(b));
        list.AddRange(t.GetInterfaces().Where(i => i.IsPublic).Select(Name).OrderBy(n => n, StringComparer.Ordinal));
        return list.Count == 0 ? "" : " : " + string.Join(", ", list);
    }

    private static string Member(MemberInfo m) => m switch
    {
        ConstructorInfo c => $"ctor({Params(c)})",
        MethodInfo mi => $"{(mi.IsStatic ? "static " : "")}{Name(mi.ReturnType)} {mi.Name}{(mi.IsGenericMethod ? "<" + string.Join(", ", mi.GetGenericArguments().Select(Name)) + ">" : "")}({Params(mi)})",
        PropertyInfo p => $"{(p.GetMethod?.IsStatic == true ? "static " : "")}{Name(p.PropertyType)} {p.Name} {{ {(p.GetMethod?.IsPublic == true ? "get; " : "")}{(p.SetMethod?.IsPublic == true ? "set; " : "")}}}",
        FieldInfo f => $"{(f.IsLiteral ? "const " : f.IsStatic ? "static " : "")}{Name(f.FieldType)} {f.Name}",
        EventInfo e => $"event {Name(e.EventHandlerType!)} {e.Name}",
        Type nested => $"nested {Name(nested)}",
        _ => m.ToString() ?? m.Name,
    };

    private static string Params(MethodBase m) =>
        string.Join(", ", m.GetParameters().Select(p => $"{(p.ParameterType.IsByRef ? (p.IsOut ? "out " : "ref ") : "")}{Name(p.ParameterType)} {p.Name}{(p.HasDefaultValue ? " = " + (p.DefaultValue ?? "null") : "")}"));

    private static string Name(Type t)
    {
        if (t.IsByRef) return Name(t.GetElementType()!);
        if (t.IsArray) return Name(t.GetElementType()!) + "[]";
        if (Nullable.GetUnderlyingType(t) is { } u) return Name(u) + "?";
        if (!t.IsGenericType) return t.IsGenericParameter ? t.Name : (t.Namespace == "Asio2.Rx" ? t.Name : t.FullName ?? t.Name);
        string name = (t.Namespace == "Asio2.Rx" ? t.Name : (t.Namespace + "." + t.Name));
        return name[..name.IndexOf('`')] + "<" + string.Join(", ", t.GetGenericArguments().Select(Name)) + ">";
    }
}
