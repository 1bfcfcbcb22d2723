using System.Diagnostics;
using Parley.Bus.Tests.Support;
using Parley.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Parley.Bus.Tests;

/// <summary>A broker stopped (or crashed) and restarted under running nodes, on a private broker so other tests are not disturbed.</summary>
[Trait("Tier", "Bus")]
public sealed class RabbitMqOutageTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_broker_restart_pauses_the_bus_and_then_restores_bindings_delivery_and_resumes_nodes(bool crashed)
    {
        await using var server = await RabbitMqServer.StartAsync();
        await using var a = await RabbitNode.StartAsync(server.Uri, output, "a");
        await using var b = await RabbitNode.StartAsync(server.Uri, output, "b");
        var t = Events.NewConversation();
        var u = Events.NewConversation();
        var later = Events.NewConversation();
        await a.SubscribeAsync(t);
        await b.SubscribeAsync(t);
        await b.SubscribeAsync(u);
        Assert.True(a.Publish(t, 1));
        await b.Handler.WaitForAsync(t, 1);
        Assert.Equal(0, a.Handler.Resumed + b.Handler.Resumed);

        // Stopped, the broker closes every connection with a word; crashed (SIGKILL), the sockets just end.
        if (crashed)
        {
            await server.KillAsync();
        }
        else
        {
            await server.StopAsync();
        }

        Assert.False(server.IsRunning);
        await Eventually.TrueAsync(() => !a.Bus.IsConnected && !b.Bus.IsConnected, TimeSpan.FromSeconds(10), "both nodes to notice the outage");

        // While the broker is down: publishing drops at once, a node still hears itself, subscribing does not wait.
        var watch = Stopwatch.StartNew();
        var accepted = 0;
        for (var seq = 2; seq <= 1_001; seq++)
        {
            accepted += a.Publish(t, seq) ? 1 : 0;
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"1000 publishes during the outage took {watch.Elapsed}");
        Assert.Equal(0, accepted);
        await a.Handler.WaitForAsync(t, 1_001);
        using (var ping = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
        {
            Assert.False(await a.Bus.PingAsync(ping.Token));
        }

        await b.Bus.SubscribeAsync(later).WaitAsync(TimeSpan.FromSeconds(1));
        await using var c = await RabbitNode.StartAsync(server.Uri, output, "c");
        Assert.False(c.Bus.IsConnected);
        await c.Bus.SubscribeAsync(t).WaitAsync(TimeSpan.FromSeconds(1));

        await server.StartAgainAsync();
        var sinceRestart = Stopwatch.StartNew();
        await Eventually.TrueAsync(() => a.Bus.IsConnected && b.Bus.IsConnected && c.Bus.IsConnected, Recovery, "all nodes to reconnect");
        var reconnected = sinceRestart.Elapsed;

        // Cross-node delivery works again, in both directions and to the node that started during the outage.
        Assert.True(a.Publish(t, 2_000));
        Assert.True(b.Publish(later, 1));
        await b.Handler.WaitForAsync(t, 2);
        await c.Handler.WaitForAsync(t, 1);
        await b.Handler.WaitForAsync(later, 1);
        var delivering = sinceRestart.Elapsed;
        Assert.Equal([1L, 2_000L], b.Handler.On(t).Seqs());
        Assert.Equal([2_000L], c.Handler.On(t).Seqs());

        var bindings = await BrokerState.AllBindingsAsync(server);
        Assert.Equal([t.RoutingKey], bindings[a.Bus.QueueName]);
        Assert.Equal(new[] { later.RoutingKey, t.RoutingKey, u.RoutingKey }.Order(StringComparer.Ordinal), bindings[b.Bus.QueueName]);
        Assert.Equal([t.RoutingKey], bindings[c.Bus.QueueName]);
        await Eventually.TrueAsync(() => a.Handler.Resumed == 1 && b.Handler.Resumed == 1 && c.Handler.Resumed == 1, TimeSpan.FromSeconds(5), "OnResumed on every node");
        using (var ping = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            Assert.True(await a.Bus.PingAsync(ping.Token));
        }

        output.WriteLine($"broker accepting connections again -> all nodes connected: {reconnected.TotalSeconds:F2} s; -> cross-node delivery: {delivering.TotalSeconds:F2} s");
    }

    [Fact]
    public async Task A_broker_gone_silent_is_left_and_the_bus_reconnects_once_it_answers_again()
    {
        var server = await RabbitMqServer.Shared;
        await using var proxy = new TcpFaultProxy(server.Port);
        await using var a = await RabbitNode.StartAsync($"amqp://guest:guest@127.0.0.1:{proxy.Port}/", output, "silent");
        await using var b = await RabbitNode.StartAsync(server.Uri, output, "direct");
        var t = Events.NewConversation();
        await a.SubscribeAsync(t);

        // A partition: nothing passes and nothing closes. The heartbeats notice; attempts made meanwhile reach a proxy
        // that accepts and then says nothing, and each must give up and be retried rather than hold the loop.
        proxy.SetMode(ProxyMode.Blackhole);
        await Eventually.TrueAsync(() => !a.Bus.IsConnected, TimeSpan.FromSeconds(60), "the bus to notice the silent broker");
        await Task.Delay(TimeSpan.FromSeconds(12));
        Assert.False(a.Bus.IsConnected);

        proxy.SetMode(ProxyMode.Pass);
        await Eventually.TrueAsync(() => a.Bus.IsConnected, Recovery, "the bus to reconnect once the broker answers");
        Assert.True(b.Publish(t, 1));
        await a.Handler.WaitForAsync(t, 1);
    }
}
