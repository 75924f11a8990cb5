using System.Reflection;
using Asio2.Rx.Perf;

// dotnet run -c Release --project perf/Asio2.Rx.Perf -- <benchmark> [--option value ...]
// dotnet run -c Release --project perf/Asio2.Rx.Perf -- list
var benchmarks = typeof(IBenchmark).Assembly.GetTypes()
    .Where(t => typeof(IBenchmark).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
    .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
    .OrderBy(b => b.Name)
    .ToList();

if (args.Length == 0 || args[0] == "list")
{
    foreach (var b in benchmarks) Console.WriteLine($"{b.Name,-14} {b.Description}");
    return 0;
}
var chosen = benchmarks.FirstOrDefault(b => b.Name == args[0]);
if (chosen is null)
{
    Console.Error.WriteLine($"no benchmark named '{args[0]}'; try: list");
    return 2;
}
return await chosen.RunAsync(PerfArgs.Parse(args.Skip(1).ToArray()));
