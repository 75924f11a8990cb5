using System.Reflection;
using System.Runtime.Loader;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Asio2.Rx.Tests.Docs;

/// <summary>Console output is process-wide: the README examples run alone, after the parallel tests.</summary>
[CollectionDefinition(nameof(ReadmeExamples), DisableParallelization = true)]
public sealed class ReadmeExamples;

/// <summary>
/// Every <c>csharp</c> block of README.md is a complete program a newcomer can paste into a console project that
/// references the Asio2.Rx package: it compiles as written (no errors, no warnings), and unless it is marked
/// <c>&lt;!-- example: compile-only (why) --&gt;</c> it runs to completion, and prints exactly the lines of the
/// <c>text</c> block that follows it after a line ending in "prints:". A block that needs a package besides
/// Asio2.Rx names it: <c>&lt;!-- example: packages Microsoft.Reactive.Testing --&gt;</c>.
/// </summary>
[Collection(nameof(ReadmeExamples))]
public class ReadmeExamplesTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(60);

    public static TheoryData<string> Examples => new(ReadmeExample.All.Select(e => e.Name));

    [Fact]
    public void TheReadme_HasExamples_AndEveryRunnableOneSaysWhatItPrints()
    {
        Assert.True(ReadmeExample.All.Count >= 8, $"only {ReadmeExample.All.Count} csharp blocks found in README.md");
        var silent = ReadmeExample.All.Where(e => !e.CompileOnly && e.ExpectedOutput is null).Select(e => e.Name).ToList();
        Assert.True(silent.Count == 0, "runnable examples without a 'prints:' block: " + string.Join(", ", silent));
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public async Task Example_CompilesAsWritten_AndPrintsWhatTheReadmeSays(string name)
    {
        var example = ReadmeExample.All.Single(e => e.Name == name);
        byte[] image = Compile(example);
        if (example.CompileOnly) return;

        string output = await RunAsync(image);
        var printed = output.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');
        Assert.Equal(example.ExpectedOutput!, printed);
    }

    private static byte[] Compile(ReadmeExample example)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        // What `dotnet new console` turns on: implicit usings and nullable reference types.
        const string implicitUsings = """
            global using System;
            global using System.Collections.Generic;
            global using System.IO;
            global using System.Linq;
            global using System.Net.Http;
            global using System.Threading;
            global using System.Threading.Tasks;
            """;
        var compilation = CSharpCompilation.Create(
            "ReadmeExample_" + example.Line,
            [CSharpSyntaxTree.ParseText(example.Code, parse, path: $"README.md:{example.Line}"), CSharpSyntaxTree.ParseText(implicitUsings, parse)],
            References(example.Packages),
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable)
                // The SDK's own NoWarn: binding-redirect assumptions that hold on .NET.
                .WithSpecificDiagnosticOptions([new("CS1701", ReportDiagnostic.Suppress), new("CS1702", ReportDiagnostic.Suppress)]));
        using var image = new MemoryStream();
        var result = compilation.Emit(image);
        var problems = result.Diagnostics
            .Where(d => d.Severity >= DiagnosticSeverity.Warning)
            .Select(d => d.ToString())
            .ToList();
        Assert.True(problems.Count == 0, $"README example at line {example.Line} does not compile as written:\n" + string.Join("\n", problems));
        return image.ToArray();
    }

    /// <summary>The framework, Asio2.Rx and what it brings along (as a package reference would), plus named packages.</summary>
    private static List<MetadataReference> References(IReadOnlyList<string> packages)
    {
        var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .GroupBy(p => Path.GetFileNameWithoutExtension(p), StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.First(), StringComparer.OrdinalIgnoreCase);
        var frameworkDir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var paths = new HashSet<string>(Directory.EnumerateFiles(frameworkDir, "*.dll").Where(IsManaged));

        void AddWithDependencies(string assemblyName)
        {
            if (!tpa.TryGetValue(assemblyName, out var path) || !paths.Add(path)) return;
            foreach (var dependency in Assembly.LoadFrom(path).GetReferencedAssemblies())
                AddWithDependencies(dependency.Name!);
        }

        AddWithDependencies(typeof(Session).Assembly.GetName().Name!);
        foreach (var package in packages)
        {
            AddWithDependencies(package);
            // Microsoft.Reactive.Testing 3.1.1 was built against the split Rx assemblies: a project needs the four facades.
            if (package == "Microsoft.Reactive.Testing")
                foreach (var facade in new[] { "System.Reactive.Core", "System.Reactive.Linq", "System.Reactive.Interfaces", "System.Reactive.PlatformServices" })
                    AddWithDependencies(facade);
        }
        return paths.Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
    }

    private static bool IsManaged(string path)
    {
        try
        {
            AssemblyName.GetAssemblyName(path);
            return true;
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }

    private static async Task<string> RunAsync(byte[] image)
    {
        var context = new AssemblyLoadContext("readme-example", isCollectible: true);
        var writer = new StringWriter();
        var previous = Console.Out;
        Console.SetOut(TextWriter.Synchronized(writer));
        try
        {
            var entry = context.LoadFromStream(new MemoryStream(image)).EntryPoint!;
            object?[] args = entry.GetParameters().Length == 0 ? [] : [Array.Empty<string>()];
            if (entry.Invoke(null, args) is Task task) await task.WaitAsync(RunTimeout);
        }
        finally
        {
            Console.SetOut(previous);
            context.Unload();
        }
        return writer.ToString();
    }
}

/// <summary>One <c>csharp</c> block of README.md with its markers.</summary>
internal sealed partial record ReadmeExample(string Name, int Line, string Code, bool CompileOnly, IReadOnlyList<string> Packages, string[]? ExpectedOutput)
{
    public static IReadOnlyList<ReadmeExample> All { get; } = Parse(File.ReadAllLines(FindReadme()));

    private static List<ReadmeExample> Parse(string[] lines)
    {
        var examples = new List<ReadmeExample>();
        string section = "top";
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].StartsWith("## ", StringComparison.Ordinal)) section = lines[i][3..].Trim();
            if (lines[i].Trim() != "```csharp") continue;
            int start = i + 1, end = start;
            while (end < lines.Length && lines[end].Trim() != "```") end++;
            var code = string.Join("\n", lines[start..end]);

            // Markers: HTML comments on the lines just above the block.
            bool compileOnly = false;
            var packages = new List<string>();
            for (int j = i - 1; j >= 0 && lines[j].TrimStart().StartsWith("<!--", StringComparison.Ordinal); j--)
            {
                var marker = Marker().Match(lines[j]);
                if (!marker.Success) continue;
                if (marker.Groups[1].Value == "compile-only") compileOnly = true;
                else packages.AddRange(marker.Groups[2].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries));
            }

            // Expected output: a ```text block right after a line ending in "prints:".
            string[]? expected = null;
            int k = end + 1;
            while (k < lines.Length && lines[k].Trim().Length == 0) k++;
            if (k < lines.Length && lines[k].TrimEnd().EndsWith("prints:", StringComparison.OrdinalIgnoreCase))
            {
                k++;
                while (k < lines.Length && lines[k].Trim().Length == 0) k++;
                if (k < lines.Length && lines[k].Trim() == "```text")
                {
                    int t = k + 1, tEnd = t;
                    while (tEnd < lines.Length && lines[tEnd].Trim() != "```") tEnd++;
                    expected = lines[t..tEnd];
                }
            }
            examples.Add(new ReadmeExample($"{section} (line {start})", start, code, compileOnly, packages, expected));
            i = end;
        }
        return examples;
    }

    private static string FindReadme()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "README.md");
            if (File.Exists(candidate) && File.Exists(Path.Combine(dir.FullName, "Asio2.Rx.sln"))) return candidate;
        }
        throw new FileNotFoundException("README.md next to Asio2.Rx.sln was not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"<!--\s*example:\s*(compile-only|packages)\b\s*([^>]*?)\s*-->")]
    private static partial Regex Marker();
}
