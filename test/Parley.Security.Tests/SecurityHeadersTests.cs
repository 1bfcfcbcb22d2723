using System.Net;
using System.Text.RegularExpressions;
using Parley.Security.Tests.Support;
using Parley.Testing;

namespace Parley.Security.Tests;

/// <summary>
/// Every answer, whatever it is (the UI, its assets, API successes and errors, 404s, refusals), carries the strict
/// Content-Security-Policy and its companion headers, and names no server software. The browser tests check the same
/// from inside Chromium (clients/web/e2e/safety.e2e.test.ts).
/// </summary>
[Trait("Tier", "Security")]
public sealed partial class SecurityHeadersTests
{
    [Fact]
    public async Task Every_kind_of_answer_carries_the_csp_and_companion_headers()
    {
        await using var node = await SecurityNode.StartAsync();
        using var api = new ApiClient(node.BaseUri);
        var user = await api.RegisterAsync("headers");
        using var http = new HttpClient { BaseAddress = node.BaseUri };

        var index = await http.GetStringAsync("/");
        var assets = AssetReference().Matches(index).Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.NotEmpty(assets);

        var requests = new List<(string What, HttpRequestMessage Request, HttpStatusCode? Status)>
        {
            ("the UI at /", new(HttpMethod.Get, "/"), HttpStatusCode.OK),
            ("index.html", new(HttpMethod.Get, "/index.html"), HttpStatusCode.OK),
            ("favicon", new(HttpMethod.Get, "/favicon.svg"), HttpStatusCode.OK),
            ("a missing page", new(HttpMethod.Get, "/no/such/page"), HttpStatusCode.NotFound),
            ("a missing asset", new(HttpMethod.Get, "/assets/missing.js"), HttpStatusCode.NotFound),
            ("stats", new(HttpMethod.Get, "/api/v1/stats"), HttpStatusCode.OK),
            ("an unknown API path", new(HttpMethod.Get, "/api/v1/nothing"), HttpStatusCode.NotFound),
            ("an API 401", new(HttpMethod.Get, "/api/v1/conversations"), HttpStatusCode.Unauthorized),
            ("an API 400", new(HttpMethod.Post, "/api/v1/auth/login") { Content = new StringContent("{bad", System.Text.Encoding.UTF8, "application/json") }, HttpStatusCode.BadRequest),
            ("a wrong method", new(HttpMethod.Delete, "/api/v1/rooms"), null),
            ("healthz", new(HttpMethod.Get, "/healthz"), HttpStatusCode.OK),
            ("readyz", new(HttpMethod.Get, "/readyz"), HttpStatusCode.OK),
            ("/ws without an upgrade", new(HttpMethod.Get, "/ws"), HttpStatusCode.BadRequest),
        };
        foreach (var asset in assets)
        {
            requests.Add(("asset " + asset, new(HttpMethod.Get, asset), HttpStatusCode.OK));
        }

        using var authorized = new HttpRequestMessage(HttpMethod.Get, "/api/v1/conversations");
        authorized.Headers.Authorization = new("Bearer", user.Token);
        requests.Add(("an authorized API answer", authorized, HttpStatusCode.OK));

        foreach (var (what, request, status) in requests)
        {
            using (request)
            {
                using var response = await http.SendAsync(request);
                if (status is not null)
                {
                    Assert.True(status == response.StatusCode, $"{what}: {response.StatusCode}");
                }

                AssertHeaders(what, response.Headers.Select(h => (h.Key, string.Join(",", h.Value))).ToList());
            }
        }

        // The cross-origin upgrade refusal too (raw: the client library hides the headers of a failed upgrade).
        await using var socket = await RawSocket.ConnectAsync(node.BaseUri);
        await socket.SendAsync(RawSocket.UpgradeRequest(node.BaseUri, "https://evil.example"));
        var head = await socket.ReadHeadAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(403, RawSocket.StatusOf(head));
        AssertHeaders("the 403 upgrade refusal", head.Split("\r\n").Skip(1).Where(l => l.Contains(':', StringComparison.Ordinal)).Select(l => (l[..l.IndexOf(':', StringComparison.Ordinal)], l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim())).ToList());
    }

    private static void AssertHeaders(string what, List<(string Name, string Value)> headers)
    {
        string? Get(string name) => headers.FirstOrDefault(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;
        var csp = Get("Content-Security-Policy") ?? "";
        Assert.True(csp.Contains("default-src 'self'", StringComparison.Ordinal), $"{what}: CSP '{csp}'");
        Assert.True(csp.Contains("script-src 'self'", StringComparison.Ordinal) && !csp.Contains("unsafe-inline", StringComparison.Ordinal) && !csp.Contains("unsafe-eval", StringComparison.Ordinal), $"{what}: CSP '{csp}'");
        Assert.True(csp.Contains("object-src 'none'", StringComparison.Ordinal) && csp.Contains("frame-ancestors 'none'", StringComparison.Ordinal) && csp.Contains("base-uri 'none'", StringComparison.Ordinal), $"{what}: CSP '{csp}'");
        Assert.True(Get("X-Content-Type-Options") == "nosniff", $"{what}: X-Content-Type-Options");
        Assert.True(Get("X-Frame-Options") == "DENY", $"{what}: X-Frame-Options");
        Assert.True(Get("Referrer-Policy") == "no-referrer", $"{what}: Referrer-Policy");
        Assert.True(Get("Server") is null && Get("X-Powered-By") is null, $"{what}: names its server software");
        // Plain HTTP: no HSTS (RFC 6797 says to ignore it there; sending it would only mislead).
        Assert.True(Get("Strict-Transport-Security") is null, $"{what}: HSTS over plain HTTP");
    }

    [GeneratedRegex("(?:src|href)=\"(/assets/[^\"]+)\"")]
    private static partial Regex AssetReference();
}
