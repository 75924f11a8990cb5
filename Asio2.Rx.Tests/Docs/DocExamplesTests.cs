using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.Loader;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Asio2.Rx.Tests.Docs;

/// <summary>Console output is process-wide: the documentation's examples run alone, after the parallel tests.</summary>
[CollectionDefinition(nameof(DocExamples), DisableParallelization = true)]
public sealed class DocExamples;

/// <summary>
/// Every <c>csharp</c> block of README.md and of each page in docs/ is a complete program a newcomer can paste into a
/// console project that references the Asio2.Rx package: it compiles as written (no errors, no warnings), and unless
/// it is marked <c>&lt;!-- example: compile-only (why) --&gt;</c> it runs to completion, and prints exactly the lines
/// of the <c>text</c> block that follows it after a line ending in "prints:". A block that needs a package besides
/// Asio2.Rx names it: <c>&lt;!-- example: packages Microsoft.Reactive.Testing --&gt;</c>.
/// </summary>
[Collection(nameof(DocExamples))]
public partial class DocExamplesTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(60);

    public static TheoryData<string> Files => new(DocExample.Files);

    public static TheoryData<string> Examples => new(DocExample.All.Select(e => e.Name));

    [Theory]
    [MemberData(nameof(Files))]
    public void EveryPage_HasExamples_AndEveryRunnableOneSaysWhatItPrints(string file)
    {
        var examples = DocExample.All.Where(e => e.File == file).ToList();
        Assert.True(examples.Count > 0, $"{file} has no csharp block");
        var silent = examples.Where(e => !e.CompileOnly && e.ExpectedOutput is null).Select(e => e.Name).ToList();
        Assert.True(silent.Count == 0, "runnable examples without a 'prints:' block: " + string.Join(", ", silent));
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void EveryRelativeLink_PointsToAFileThatExists_AndAHeadingInIt(string file)
    {
        string dir = Path.GetDirectoryName(Path.Combine(DocExample.Root, file))!;
        var broken = new List<string>();
        foreach (Match link in RelativeLink().Matches(File.ReadAllText(Path.Combine(DocExample.Root, file))))
        {
            string target = Path.Combine(dir, link.Groups[1].Value);
            if (!File.Exists(target) && !Directory.Exists(target)) broken.Add(link.Value);
            else if (link.Groups[2].Success && !Anchors(target).Contains(link.Groups[2].Value)) broken.Add(link.Value);
        }
        Assert.True(broken.Count == 0, $"{file} has broken links: " + string.Join(", ", broken));
    }

    /// <summary>The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to hyphens.</summary>
    private static HashSet<string> Anchors(string markdownFile) =>
        File.ReadLines(markdownFile)
            .Where(line => line.StartsWith('#'))
            .Select(line => new string(line.TrimStart('#').Trim().ToLowerInvariant()
                .Where(c => char.IsLetterOrDigit(c) || c is ' ' or '-' or '_').ToArray()).Replace(' ', '-'))
            .ToHashSet();

    [Theory]
    [MemberData(nameof(Examples))]
    public async Task Example_CompilesAsWritten_AndPrintsWhatItsPageSays(string name)
    {
        var example = DocExample.All.Single(e => e.Name == name);
        byte[] image = Compile(example);
        if (example.CompileOnly) return;

        string output = await RunAsync(image);
        var printed = output.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');
        Assert.Equal(example.ExpectedOutput!, printed);
    }

    private static byte[] Compile(DocExample example)
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
            "DocExample_" + example.Line,
            [CSharpSyntaxTree.ParseText(example.Code, parse, path: $"{example.File}:{example.Line}"), CSharpSyntaxTree.ParseText(implicitUsings, parse)],
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
        Assert.True(problems.Count == 0, $"example at {example.File}:{example.Line} does not compile as written:\n" + string.Join("\n", problems));
        return image.ToArray();
    }

    // One reference set per package list, shared by every compilation that needs it: Roslyn reads each assembly's
    // metadata once per reference object, so sharing the objects is what keeps dozens of compilations quick.
    private static readonly ConcurrentDictionary<string, List<MetadataReference>> s_references = new();

    /// <summary>The framework, Asio2.Rx and what it brings along (as a package reference would), plus named packages.</summary>
    private static List<MetadataReference> References(IReadOnlyList<string> packages) =>
        s_references.GetOrAdd(string.Join(" ", packages.Order()), static (_, packages) => CreateReferences(packages), packages);

    private static List<MetadataReference> CreateReferences(IReadOnlyList<string> packages)
    {
        var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .GroupBy(p => Path.GetFileNameWithoutExtension(p), StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.First(), StringComparer.OrdinalIgnoreCase);
        var frameworkDir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        // One file per assembly name: a package may carry a newer copy of a framework assembly
        // (System.Diagnostics.DiagnosticSource), and the copy that loads at run time is the one to compile against.
        var paths = Directory.EnumerateFiles(frameworkDir, "*.dll").Where(IsManaged)
            .ToDictionary(p => Path.GetFileNameWithoutExtension(p), StringComparer.OrdinalIgnoreCase);
        var added = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

        void AddWithDependencies(string assemblyName)
        {
            if (!tpa.TryGetValue(assemblyName, out var path) || !added.Add(assemblyName)) return;
            bool framework = paths.TryGetValue(assemblyName, out var listed) && listed == path;
            paths[assemblyName] = path;
            if (framework) return; // the framework's own references are all listed already
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
        return paths.Values.Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
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
        var context = new AssemblyLoadContext("doc-example", isCollectible: true);
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

    // [text](target.md) or [text](../README.md#anchor): a relative link (not http:, not an in-page #anchor).
    [GeneratedRegex(@"\]\((?!https?:|mailto:|#)([^)#\s]+)(?:#([^)]*))?\)")]
    private static partial Regex RelativeLink();
}

/// <summary>One <c>csharp</c> block of README.md or a docs/ page, with its markers.</summary>
internal sealed partial record DocExample(string File, string Name, int Line, string Code, bool CompileOnly, IReadOnlyList<string> Packages, string[]? ExpectedOutput)
{
    /// <summary>The repository root: the folder holding Asio2.Rx.sln and README.md.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>README.md, then every page in docs/, as paths relative to <see cref="Root"/> with forward slashes.</summary>
    public static IReadOnlyList<string> Files { get; } =
    [
        "README.md",
        .. Directory.EnumerateFiles(Path.Combine(Root, "docs"), "*.md").Select(p => "docs/" + Path.GetFileName(p)).Order(StringComparer.Ordinal),
    ];

    public static IReadOnlyList<DocExample> All { get; } = Files.SelectMany(f => Parse(f, System.IO.File.ReadAllLines(Path.Combine(Root, f)))).ToList();

    private static List<DocExample> Parse(string file, string[] lines)
    {
        var examples = new List<DocExample>();
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
            examples.Add(new DocExample(file, $"{file}: {section} (line {start})", start, code, compileOnly, packages, expected));
            i = end;
        }
        return examples;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "README.md")) && System.IO.File.Exists(Path.Combine(dir.FullName, "Asio2.Rx.sln")))
                return dir.FullName;
        }
        throw new FileNotFoundException("README.md next to Asio2.Rx.sln was not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"<!--\s*example:\s*(compile-only|packages)\b\s*([^>]*?)\s*-->")]
    private static partial Regex Marker();
}
