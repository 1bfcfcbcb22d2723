using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Authentication;
using System.Text;
using System.Text.Json;
using Parley.Security.Tests.Support;
using Parley.Testing;

namespace Parley.Security.Tests;

/// <summary>
/// TLS both ways it is deployed: Kestrel serving a certificate itself (configured through Kestrel's standard
/// <c>Kestrel:Certificates:Default</c> keys), and nginx terminating TLS with the shipped example configuration.
/// </summary>
[Trait("Tier", "Security")]
public sealed class TlsTests : IDisposable
{
    private readonly string _folder = TestPorts.NewTempDir("tls");
    private readonly TestCertificate _certificate;

    public TlsTests() => _certificate = TestCertificate.Create(_folder);

    public void Dispose()
    {
        _certificate.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task Kestrel_serves_rest_and_wss_over_tls_with_hsts_and_never_in_cleartext()
    {
        await using var node = await SecurityNode.StartAsync(setup: new NodeSetup { CertificatePath = _certificate.PfxPath, CertificatePassword = _certificate.Password });
        Assert.Equal("https", node.BaseUri.Scheme);
        using var https = _certificate.Client(node.BaseUri);

        var register = await https.PostAsJsonAsync("api/v1/auth/register", new { username = "tls" + Guid.NewGuid().ToString("N")[..8], password = "correct horse battery" });
        Assert.Equal(HttpStatusCode.Created, register.StatusCode);
        Assert.Equal("max-age=31536000", register.Headers.GetValues("Strict-Transport-Security").Single());
        var auth = JsonDocument.Parse(await register.Content.ReadAsStringAsync()).RootElement;
        var token = auth.Str("token")!;
        var room = await https.PostAsJsonAsync("api/v1/rooms", new { name = "over tls" }, JsonSerializerOptions.Web, CancellationToken.None);
        Assert.Equal(HttpStatusCode.Unauthorized, room.StatusCode);
        using var create = new HttpRequestMessage(HttpMethod.Post, "api/v1/rooms") { Content = JsonContent.Create(new { name = "over tls" }) };
        create.Headers.Authorization = new("Bearer", token);
        var created = await https.SendAsync(create);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var roomId = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.Str("id")!;

        // wss:// from the page's own https origin: hello, send, ack, echo.
        using var ws = new ClientWebSocket();
        ws.Options.RemoteCertificateValidationCallback = _certificate.Validate;
        ws.Options.SetRequestHeader("Origin", $"https://127.0.0.1:{node.Port}");
        using var connect = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await ws.ConnectAsync(node.WsUri, connect.Token);
        Assert.Equal("wss", node.WsUri.Scheme);
        await SendAsync(ws, new { op = "hello", token });
        Assert.Equal("welcome", (await ReceiveUntilAsync(ws, "welcome")).Str("op"));
        await SendAsync(ws, new { op = "send", conv = roomId, clientMsgId = "tls-1", body = "encrypted hello" });
        Assert.Equal(1, (await ReceiveUntilAsync(ws, "ack")).Long("seq"));

        // A cleartext request to the TLS port gets no HTTP answer, and TLS below 1.2 is not offered.
        await using (var plain = await RawSocket.ConnectAsync(node.BaseUri))
        {
            await plain.SendAsync($"GET /api/v1/stats HTTP/1.1\r\nHost: 127.0.0.1:{node.Port}\r\n\r\n");
            var head = await ReadAnyAsync(plain);
            Assert.DoesNotContain("onlineUsers", head, StringComparison.Ordinal);
            Assert.DoesNotContain("HTTP/1.1 200", head, StringComparison.Ordinal);
        }

        // Nor does a cleartext WebSocket upgrade: the node's own listener must not answer it before TLS (a client set
        // to ws:// by mistake would send its token in the clear).
        await using (var plain = await RawSocket.ConnectAsync(node.BaseUri))
        {
            await plain.SendAsync(RawSocket.UpgradeRequest(node.BaseUri));
            var head = await ReadAnyAsync(plain);
            Assert.DoesNotContain(" 101 ", head, StringComparison.Ordinal);
            Assert.DoesNotContain("Sec-WebSocket-Accept", head, StringComparison.OrdinalIgnoreCase);
        }

        Assert.True(await NegotiatedAsync(node.Port) is SslProtocols.Tls12 or SslProtocols.Tls13);
#pragma warning disable SYSLIB0039 // TLS 1.1 on purpose: it must be refused.
        await Assert.ThrowsAnyAsync<Exception>(() => NegotiatedAsync(node.Port, SslProtocols.Tls11));
#pragma warning restore SYSLIB0039
    }

    [Fact]
    public async Task Wss_over_http2_extended_connect_runs_the_same_websocket()
    {
        await using var node = await SecurityNode.StartAsync(setup: new NodeSetup { CertificatePath = _certificate.PfxPath, CertificatePassword = _certificate.Password });
        using var https = _certificate.Client(node.BaseUri);
        var register = await https.PostAsJsonAsync("api/v1/auth/register", new { username = "h2" + Guid.NewGuid().ToString("N")[..8], password = "correct horse battery" });
        var token = JsonDocument.Parse(await register.Content.ReadAsStringAsync()).RootElement.Str("token")!;

        // RFC 8441: the WebSocket is one HTTP/2 stream opened by an extended CONNECT (no 101, no Sec-WebSocket-Key).
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = _certificate.Validate } });
        using var ws = new ClientWebSocket();
        ws.Options.HttpVersion = HttpVersion.Version20;
        ws.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        ws.Options.CollectHttpResponseDetails = true;
        ws.Options.SetRequestHeader("Origin", $"https://127.0.0.1:{node.Port}");
        using var connect = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await ws.ConnectAsync(node.WsUri, invoker, connect.Token);
        Assert.Equal(HttpStatusCode.OK, ws.HttpStatusCode);
        await SendAsync(ws, new { op = "hello", token });
        Assert.Equal("welcome", (await ReceiveUntilAsync(ws, "welcome")).Str("op"));
        await SendAsync(ws, new { op = "ping", t = 5 });
        Assert.Equal(5, (await ReceiveUntilAsync(ws, "pong")).Long("t"));
        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, ws.CloseStatus);
        await Eventually.TrueAsync(() => node.Node.Hub.SessionCount == 0, TimeSpan.FromSeconds(10), "session detached");
    }

    [Fact]
    public async Task The_shipped_nginx_tls_example_passes_nginx_t_and_carries_wss_and_https_end_to_end()
    {
        // The node trusts this nginx (loopback) for client addresses, as the example tells operators to configure.
        await using var node = await SecurityNode.StartAsync(new Dictionary<string, string?> { ["TrustedProxies:0"] = "127.0.0.1" });
        var httpsPort = TestPorts.GetFree();
        var httpPort = TestPorts.GetFree();
        var config = NginxConfig(node.Port, httpPort, httpsPort);
        var confPath = Path.Combine(_folder, "nginx.conf");
        await File.WriteAllTextAsync(confPath, config);
        var global = $"pid {_folder}/nginx.pid;";

        var check = await RunAsync("nginx", ["-t", "-p", _folder, "-c", confPath, "-g", global]);
        Assert.True(check.ExitCode == 0, "nginx -t failed:\n" + check.Output);
        Assert.Contains("syntax is ok", check.Output, StringComparison.Ordinal);
        Assert.Contains("test is successful", check.Output, StringComparison.Ordinal);

        await using var nginx = ExternalProcess.Start("nginx", ["-p", _folder, "-c", confPath, "-g", "daemon off; " + global]);
        await TestPorts.WaitForPortAsync(httpsPort, TimeSpan.FromSeconds(10), () => nginx.IsRunning);
        var front = new Uri($"https://127.0.0.1:{httpsPort}/");
        using var https = _certificate.Client(front);

        // Plain HTTP is redirected to HTTPS.
        using (var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/") })
        {
            var redirect = await http.GetAsync("api/v1/stats");
            Assert.Equal(HttpStatusCode.MovedPermanently, redirect.StatusCode);
            Assert.StartsWith("https://", redirect.Headers.Location!.ToString(), StringComparison.Ordinal);
        }

        var stats = await https.GetAsync("api/v1/stats");
        Assert.Equal(HttpStatusCode.OK, stats.StatusCode);
        Assert.Single(stats.Headers.GetValues("Strict-Transport-Security"));
        Assert.False(string.IsNullOrEmpty(stats.Headers.GetValues("Content-Security-Policy").Single()));
        Assert.DoesNotContain(stats.Headers, h => h.Key.Equals("Server", StringComparison.OrdinalIgnoreCase) && h.Value.Any(v => v.Contains('/', StringComparison.Ordinal)));

        var name = "front" + Guid.NewGuid().ToString("N")[..8];
        var register = await https.PostAsJsonAsync("api/v1/auth/register", new { username = name, password = "correct horse battery" });
        Assert.Equal(HttpStatusCode.Created, register.StatusCode);
        var token = JsonDocument.Parse(await register.Content.ReadAsStringAsync()).RootElement.Str("token")!;

        // wss:// through nginx, from the page's own origin (nginx passes the browser's Host on, port included).
        using (var ws = new ClientWebSocket())
        {
            ws.Options.RemoteCertificateValidationCallback = _certificate.Validate;
            ws.Options.SetRequestHeader("Origin", $"https://127.0.0.1:{httpsPort}");
            using var connect = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await ws.ConnectAsync(new Uri($"wss://127.0.0.1:{httpsPort}/ws"), connect.Token);
            await SendAsync(ws, new { op = "hello", token });
            Assert.Equal("welcome", (await ReceiveUntilAsync(ws, "welcome")).Str("op"));
            await SendAsync(ws, new { op = "ping", t = 7 });
            Assert.Equal(7, (await ReceiveUntilAsync(ws, "pong")).Long("t"));
        }

        // Cross-site upgrades are still refused behind the proxy.
        using (var evil = new ClientWebSocket())
        {
            evil.Options.RemoteCertificateValidationCallback = _certificate.Validate;
            evil.Options.SetRequestHeader("Origin", "https://evil.example");
            var refused = await Assert.ThrowsAsync<WebSocketException>(() => evil.ConnectAsync(new Uri($"wss://127.0.0.1:{httpsPort}/ws"), CancellationToken.None));
            Assert.True(Refusals.IsStatus(refused, 403), refused.Message);
        }

        // Throttling sees each client's own address through nginx, and a forged X-Forwarded-For changes nothing.
        for (var i = 0; i < 50; i++)
        {
            using var guess = FromAddress(front, "127.0.0.70");
            using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/auth/login") { Content = JsonContent.Create(new { username = $"nobody{i}", password = "wrong password" }) };
            request.Headers.Add("X-Forwarded-For", $"198.51.100.{i}");
            Assert.Equal(HttpStatusCode.Unauthorized, (await guess.SendAsync(request)).StatusCode);
        }

        using var locked = FromAddress(front, "127.0.0.70");
        Assert.Equal(HttpStatusCode.TooManyRequests, (await locked.PostAsJsonAsync("api/v1/auth/login", new { username = name, password = "correct horse battery" })).StatusCode);
        using var other = FromAddress(front, "127.0.0.71");
        Assert.Equal(HttpStatusCode.OK, (await other.PostAsJsonAsync("api/v1/auth/login", new { username = name, password = "correct horse battery" })).StatusCode);
    }

    /// <summary>The example with test ports, paths and upstream substituted; every substitution must find its text.</summary>
    private string NginxConfig(int upstreamPort, int httpPort, int httpsPort)
    {
        var source = Path.Combine(RepoRoot(), "deploy", "nginx", "tls.conf.example");
        var text = File.ReadAllText(source);
        (string From, string To)[] edits =
        [
            ("/etc/parley/tls/fullchain.pem", _certificate.CertPemPath),
            ("/etc/parley/tls/privkey.pem", _certificate.KeyPemPath),
            ("/var/log/nginx/parley-error.log", Path.Combine(_folder, "error.log")),
            ("/var/log/nginx/parley-access.log", Path.Combine(_folder, "access.log")),
            ("server 10.0.0.11:5080 max_fails=0;", $"server 127.0.0.1:{upstreamPort} max_fails=0;"),
            ("server 10.0.0.12:5080 max_fails=0;", ""),
            ("listen 80;", $"listen 127.0.0.1:{httpPort};"),
            ("listen [::]:80;", ""),
            ("listen 443 ssl http2 backlog=4096;", $"listen 127.0.0.1:{httpsPort} ssl http2 backlog=4096;"),
            ("listen [::]:443 ssl http2 backlog=4096;", ""),
            ("worker_processes auto;", "worker_processes 1;"),
            // Test only: temporary files in the test's folder, not the system's.
            ("http {", $"http {{\n    client_body_temp_path {_folder}/body;\n    proxy_temp_path {_folder}/proxy;\n    fastcgi_temp_path {_folder}/fastcgi;\n    uwsgi_temp_path {_folder}/uwsgi;\n    scgi_temp_path {_folder}/scgi;"),
        ];
        foreach (var (from, to) in edits)
        {
            Assert.True(text.Contains(from, StringComparison.Ordinal), $"deploy/nginx/tls.conf.example no longer contains '{from}': update this test with it");
            text = text.Replace(from, to, StringComparison.Ordinal);
        }

        return text;
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Parley.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Parley.slnx not found above " + AppContext.BaseDirectory);
    }

    private HttpClient FromAddress(Uri front, string source)
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = _certificate.Validate },
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
                await socket.ConnectAsync(context.DnsEndPoint, ct);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        return new HttpClient(handler) { BaseAddress = front, Timeout = TimeSpan.FromSeconds(30) };
    }

    private async Task<SslProtocols> NegotiatedAsync(int port, SslProtocols offer = SslProtocols.None)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        await using var ssl = new SslStream(tcp.GetStream(), false, _certificate.Validate);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost", EnabledSslProtocols = offer }, timeout.Token);
        return ssl.SslProtocol;
    }

    private static async Task<string> ReadAnyAsync(RawSocket socket)
    {
        try
        {
            return await socket.ReadHeadAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or TimeoutException)
        {
            return "";
        }
    }

    private static async Task SendAsync(ClientWebSocket ws, object frame)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await ws.SendAsync(JsonSerializer.SerializeToUtf8Bytes(frame), WebSocketMessageType.Text, true, timeout.Token);
    }

    private static async Task<JsonElement> ReceiveUntilAsync(ClientWebSocket ws, string op)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var length = 0;
            ValueWebSocketReceiveResult result;
            do
            {
                result = await ws.ReceiveAsync(buffer.AsMemory(length), timeout.Token);
                length += result.Count;
            }
            while (!result.EndOfMessage);

            var frame = JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement.Clone();
            if (frame.Str("op") == op)
            {
                return frame;
            }
        }
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + file);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
