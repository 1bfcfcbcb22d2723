using Parley.Security.Tests.Support;
using Parley.Testing;

namespace Parley.Security.Tests;

/// <summary>A node that allows one extra browser origin.</summary>
public sealed class OriginNodeFixture : IAsyncLifetime
{
    public const string Allowed = "https://app.example";

    public SecurityNode Node { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Node = await SecurityNode.StartAsync(new Dictionary<string, string?> { ["AllowedOrigins:0"] = Allowed });

    public async Task DisposeAsync() => await Node.DisposeAsync();
}

/// <summary>
/// Cross-site WebSocket hijacking: a browser page on another origin must not open a socket to Parley. Upgrades from
/// origins off the allow-list answer 403 before any WebSocket exists; the page's own origin, configured origins and
/// non-browser clients (no Origin) connect.
/// </summary>
[Trait("Tier", "Security")]
public sealed class OriginTests(OriginNodeFixture f) : IClassFixture<OriginNodeFixture>
{
    public static TheoryData<string> Hostile => new()
    {
        "https://evil.example",
        "null",
        "http://127.0.0.1:{port}.evil.example",
        "http://evil.example:{port}",
        "http://127.0.0.1:{other}",
        "https://127.0.0.1",
        "http://localhost:{port}",
        "https://app.example.evil.example",
        "https://evil.example, http://127.0.0.1:{port}",
        "file://",
        "chrome-extension://abcdefghijklmnop",
        "http://[::1]:{port}",
        "not a url",
    };

    private string Fill(string origin) => origin
        .Replace("{port}", f.Node.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
        .Replace("{other}", (f.Node.Port == 65535 ? 1 : f.Node.Port + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);

    [Theory]
    [MemberData(nameof(Hostile))]
    public async Task An_upgrade_from_an_origin_not_on_the_allow_list_is_refused_with_403(string origin)
    {
        await using var socket = await RawSocket.ConnectAsync(f.Node.BaseUri);
        await socket.SendAsync(RawSocket.UpgradeRequest(f.Node.BaseUri, Fill(origin)));
        var head = await socket.ReadHeadAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(403, RawSocket.StatusOf(head));
        Assert.DoesNotContain("Sec-WebSocket-Accept", head, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0, f.Node.Node.Hub.SessionCount);
    }

    [Theory]
    [InlineData("https://app.example")]
    [InlineData("HTTPS://APP.EXAMPLE")]
    [InlineData("https://app.example/")]
    [InlineData("http://127.0.0.1:{port}")]
    [InlineData(null)]
    public async Task The_same_origin_a_configured_origin_and_non_browser_clients_connect(string? origin)
    {
        using var api = new ApiClient(f.Node.BaseUri);
        var user = await api.RegisterAsync("origin");
        await using var ws = await WsTestClient.ConnectAsync(f.Node.WsUri, origin is null ? null : Fill(origin));
        await ws.SendAsync(new { op = "hello", token = user.Token });
        Assert.Equal("welcome", (await ws.WaitForAsync(x => x.Op() is "welcome" or "error")).Op());
    }

    [Fact]
    public async Task The_refusal_is_a_json_forbidden_answer_that_carries_no_cors_grant()
    {
        using var http = new HttpClient { BaseAddress = f.Node.BaseUri };
        await using var socket = await RawSocket.ConnectAsync(f.Node.BaseUri);
        await socket.SendAsync(RawSocket.UpgradeRequest(f.Node.BaseUri, "https://evil.example"));
        var head = await socket.ReadHeadAsync(TimeSpan.FromSeconds(10));
        Assert.Contains("application/json", head, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Access-Control-Allow-Origin", head, StringComparison.OrdinalIgnoreCase);

        // REST answers grant no cross-origin reads either (tokens are bearer headers, never cookies, but still).
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "api/v1/conversations");
        preflight.Headers.TryAddWithoutValidation("Origin", "https://evil.example");
        preflight.Headers.TryAddWithoutValidation("Access-Control-Request-Method", "GET");
        preflight.Headers.TryAddWithoutValidation("Access-Control-Request-Headers", "authorization");
        using var answer = await http.SendAsync(preflight);
        Assert.False(answer.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.False(answer.Headers.Contains("Access-Control-Allow-Credentials"));
    }
}
