using System.Reflection;
using Asio2.Rx.Samples;

// `dotnet run --project Asio2.Rx.Samples` runs the tour: every sample, in order, on loopback.
// `dotnet run --project Asio2.Rx.Samples -- <name>` runs one; `-- list` lists them.
var samples = typeof(ISample).Assembly.GetTypes()
    .Where(t => typeof(ISample).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
    .Select(t => (ISample)Activator.CreateInstance(t)!)
    .OrderBy(s => s.Order)
    .ToList();

if (args.Length > 0 && args[0] == "list")
{
    foreach (var s in samples) Console.WriteLine($"{s.Name,-14} {s.Description}");
    return 0;
}

var chosen = args.Length == 0 ? samples : samples.Where(s => s.Name.Equals(args[0], StringComparison.OrdinalIgnoreCase)).ToList();
if (chosen.Count == 0)
{
    Console.Error.WriteLine($"no sample named '{args[0]}'; try: list");
    return 2;
}

int failures = 0;
foreach (var sample in chosen)
{
    Console.WriteLine($"== {sample.Name}: {sample.Description}");
    try
    {
        await sample.RunAsync(args.Skip(1).ToArray()).WaitAsync(TimeSpan.FromSeconds(60));
    }
    catch (Exception ex)
    {
        failures++;
        Console.WriteLine($"!! {sample.Name} failed: {ex.GetType().Name}: {ex.Message}");
    }
    Console.WriteLine();
}
Console.WriteLine(failures == 0 ? "tour finished: every stop ran" : $"tour finished: {failures} stop(s) failed");
return failures == 0 ? 0 : 1;
