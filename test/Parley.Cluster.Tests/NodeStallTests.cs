using Parley.Testing;
using Parley.Testing.Cluster;

namespace Parley.Cluster.Tests;

/// <summary>
/// A node process that stands still (SIGSTOP, a paused VM) reads nothing meanwhile: when it runs again, the time it
/// stood still must not count as its peers' silence. It pings them first and keeps those that answer.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Tier", "Cluster")]
public sealed class NodeStallTests
{
    [Fact]
    public async Task A_node_that_stood_still_for_four_heartbeats_keeps_the_open_sockets_that_answer_its_pings()
    {
        await using var cluster = await ParleyCluster.StartAsync(new ParleyClusterOptions
        {
            Nodes = 1,
            Settings = new Dictionary<string, string> { ["HeartbeatMs"] = "1000" },
            ConfigureNode = (_, _) => new NodeOverrides(new Dictionary<string, string>(), new Dictionary<string, string> { ["Logging__LogLevel__Parley.Server.WebSockets"] = "Debug" }),
        });
        var node = cluster.Nodes[0];
        var user = await cluster.Api.RegisterAsync("stall");
        WsTestClient ws;
        try
        {
            ws = await WsTestClient.ConnectAndHelloAsync(node.WsUri, user.Token);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException($"{e.Message}\n{cluster.Diagnostics()}", e);
        }

        await using var client = ws;

        // Four periods still: twice what a silent socket is allowed. (A one-second period leaves a loaded machine a
        // whole second to answer each ping; with half a second a starved test process was, rarely, dropped for that.)
        node.Pause();
        await Task.Delay(TimeSpan.FromSeconds(4));
        node.Resume();

        // Three periods after the node runs again: one that counted its own stall as silence drops the socket at once.
        await Task.Delay(TimeSpan.FromSeconds(3));
        if (ws.Closed.IsCompleted)
        {
            Assert.Fail($"the node closed a socket that answered its pings ({await ws.Closed}, '{ws.Socket.CloseStatusDescription}')\n{cluster.Diagnostics()}");
        }

        try
        {
            await ws.SendAsync(new { op = "ping", t = 3 });
            Assert.Equal(3, (await ws.WaitForOpAsync("pong")).Long("t"));
        }
        catch (Exception e) when (e is System.Net.WebSockets.WebSocketException or TimeoutException)
        {
            Assert.Fail($"the socket failed after the stall: {e.Message}\n{cluster.Diagnostics()}");
        }
    }
}
