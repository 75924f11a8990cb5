using System.Net.Http;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Asio2.Rx.Samples;

/// <summary>multipart/form-data on the HTTP server: a form collected into fields and files (large files go to a
/// temporary file, deleted when the request ends), the same body streamed part by part, and a limit crossed.</summary>
internal sealed class MultipartSample : ISample
{
    public string Name => "multipart";
    public string Description => "HTTP multipart/form-data: fields and a 3 MiB file, collected and streamed part by part; a limit crossed";
    public int Order => 86;

    public async Task RunAsync(string[] args)
    {
        var uploads = Directory.CreateTempSubdirectory("asio2rx-uploads-");
        try
        {
            await using var server = new HttpServer();
            // Collected: fields as text; files in memory up to 64 KiB, past that in a temporary file.
            server.Map("POST", "/form", async ctx =>
            {
                using var form = await ctx.Request.ReadMultipartFormAsync();
                var photo = form.Files.Single();
                await photo.SaveAsAsync(Path.Combine(uploads.FullName, Path.GetFileName(photo.FileName)));
                return $"{form.Fields["title"]}: {photo.FileName}, {photo.Length} bytes, spilled to disk: {photo.IsOnDisk}";
            });
            // Streamed: each part's body read as it arrives, nothing kept; reading starts inside OnNext.
            server.Map("POST", "/sizes", async ctx =>
            {
                var sizes = await ctx.Request.ReadMultipart()
                    .SelectMany(async section =>
                    {
                        long size = 0;
                        var buffer = new byte[16 * 1024];
                        int n;
                        while ((n = await section.Body.ReadAsync(buffer)) > 0) size += n;
                        return $"{section.Name}={size}";
                    })
                    .ToList();
                return string.Join(", ", sizes.Order());
            });
            // Limits are per read; crossing one answers its status (413 here) and the connection goes on.
            server.Map("POST", "/small", async ctx =>
            {
                using var form = await ctx.Request.ReadMultipartFormAsync(new MultipartLimits { MaxPartSize = 1024 * 1024 });
                return "accepted";
            });
            var bound = server.Start("127.0.0.1", 0);
            var url = $"http://127.0.0.1:{bound.Port}";

            // The client side is .NET's own MultipartFormDataContent, a multipart writer nobody here wrote.
            static HttpContent Form() => new MultipartFormDataContent
            {
                { new StringContent("holiday"), "title" },
                { new ByteArrayContent(new byte[3 * 1024 * 1024]), "photo", "beach.jpg" },
            };
            var client = RxHttpClient.Shared;
            Console.WriteLine("form: " + await client.Post(url + "/form", Form).Timeout(TimeSpan.FromSeconds(10)));
            Console.WriteLine("saved: " + string.Join(", ", uploads.GetFiles().Select(f => $"{f.Name} ({f.Length} bytes)")));
            Console.WriteLine("sizes: " + await client.Post(url + "/sizes", Form).Timeout(TimeSpan.FromSeconds(10)));
            try { await client.Post(url + "/small", Form).Timeout(TimeSpan.FromSeconds(10)).ToTask(); }
            catch (HttpRequestException ex) { Console.WriteLine($"small: {(int?)ex.StatusCode}"); }
        }
        finally
        {
            uploads.Delete(recursive: true);
        }
    }
}
