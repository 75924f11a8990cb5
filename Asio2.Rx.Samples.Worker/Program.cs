using System.Reactive.Linq;
using Asio2.Rx;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// A line-echo service on the Generic Host. Run it, then `socat - TCP:localhost:7000` (or nc) and type lines;
// Ctrl+C or SIGTERM stops accepting, writes what is queued (within DrainTimeout and the host's shutdown timeout),
// closes every session and exits. Settings come from appsettings.json ("Servers:Echo"), environment variables
// (Servers__Echo__Port=7001) or the command line (--Servers:Echo:Port 7001).
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
{
    Args = args,
    ContentRootPath = AppContext.BaseDirectory, // appsettings.json beside the program, wherever it is run from
});

builder.Services.AddTcpServer("echo")
    .BindConfiguration("Servers:Echo")
    .Configure(o => o.Settings.Framing = Framing.Delimiter('\n'))
    .OnStarting((server, services) =>
    {
        var log = services.GetRequiredService<ILoggerFactory>().CreateLogger("Echo");
        server.Sessions.Subscribe(s =>
        {
            log.LogInformation("{Session} connected", s);
            s.Closed.Subscribe(reason => log.LogInformation("{Session} closed: {Reason}", s, reason));
        });
        server.Sessions.SelectMany(s => s.Frames).Subscribe(f => f.Session.Send(f.Text + "\n"));
    });

await builder.Build().RunAsync();
