using System.Text.Json;
using Parley.Testing;

namespace Parley.Security.Tests.Support;

/// <summary>Waits over everything a test client has received, in any order (WsTestClient's own waits consume frames).</summary>
public static class Frames
{
    /// <summary>Waits until some received frame matches; returns it.</summary>
    public static async Task<JsonElement> SeenAsync(this WsTestClient ws, Func<JsonElement, bool> match, TimeSpan? timeout = null)
    {
        JsonElement found = default;
        await Eventually.TrueAsync(
            () =>
            {
                foreach (var f in ws.All)
                {
                    if (match(f))
                    {
                        found = f;
                        return true;
                    }
                }

                return false;
            },
            timeout ?? TimeSpan.FromSeconds(10),
            () => "no matching frame; last received:\n" + string.Join("\n", ws.All.TakeLast(8)));
        return found;
    }

    /// <summary>Connects and says hello with <paramref name="resume"/>; returns the client once <c>synced</c> arrived, errors or not.</summary>
    public static async Task<WsTestClient> HelloAsync(Uri uri, string token, object? resume = null)
    {
        var ws = await WsTestClient.ConnectAsync(uri);
        await ws.SendAsync(resume is null ? new { op = "hello", token } : new { op = "hello", token, resume });
        await ws.SeenAsync(f => f.Op() == "synced");
        return ws;
    }
}
