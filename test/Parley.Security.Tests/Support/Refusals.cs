using System.Net;
using System.Net.WebSockets;
using Parley.Testing;

namespace Parley.Security.Tests.Support;

/// <summary>The two ways a bad token must be refused: REST 401, and WebSocket <c>unauthorized</c> then close 4001.</summary>
public static class Refusals
{
    /// <summary>Asserts a REST call with <paramref name="token"/> answers 401 unauthorized and does not echo the token.</summary>
    public static async Task AssertRestRefusedAsync(ApiClient api, string token)
    {
        var answer = await api.CallAsync(HttpMethod.Get, "api/v1/conversations", token: token);
        Assert.Equal(HttpStatusCode.Unauthorized, answer.Status);
        Assert.Equal("unauthorized", answer.ErrorCode);
        Assert.DoesNotContain(token, answer.Body.GetRawText(), StringComparison.Ordinal);
    }

    /// <summary>Asserts a hello with <paramref name="token"/> gets error(unauthorized, ref hello), then close 4001, and never a welcome.</summary>
    public static async Task AssertHelloRefusedAsync(Uri ws, string token)
    {
        await using var client = await WsTestClient.ConnectAsync(ws);
        await client.SendAsync(new { op = "hello", token });
        var error = await client.WaitForOpAsync("error");
        Assert.Equal("unauthorized", error.Str("code"));
        Assert.Equal("hello", error.Str("ref"));
        Assert.DoesNotContain(token, error.GetRawText(), StringComparison.Ordinal);
        Assert.Equal(4001, await client.WaitClosedAsync(TimeSpan.FromSeconds(10)));
        Assert.DoesNotContain(client.All, f => f.Op() is "welcome" or "synced" or "msg" or "conversation");
    }

    /// <summary>Asserts a REST call with <paramref name="token"/> is accepted.</summary>
    public static async Task AssertRestAcceptedAsync(ApiClient api, string token)
    {
        var answer = await api.CallAsync(HttpMethod.Get, "api/v1/conversations", token: token);
        Assert.Equal(HttpStatusCode.OK, answer.Status);
    }

    /// <summary>Asserts a hello with <paramref name="token"/> is welcomed as <paramref name="userId"/>.</summary>
    public static async Task AssertHelloAcceptedAsync(Uri ws, string token, string userId)
    {
        await using var client = await WsTestClient.ConnectAsync(ws);
        await client.SendAsync(new { op = "hello", token });
        var first = await client.WaitForAsync(f => f.Op() is "welcome" or "error");
        Assert.Equal("welcome", first.Op());
        Assert.Equal(userId, first.Str("userId"));
    }

    /// <summary>True when <paramref name="e"/> is the client seeing an HTTP status instead of an upgrade.</summary>
    public static bool IsStatus(WebSocketException e, int status) => e.Message.Contains(status.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
}
