using System.Net;
using System.Text.Json;
using Parley.Diagnostics;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>The histogram behind a node's own timing, and <c>/debug/latency</c> and <c>/debug/memory</c> on a real node.</summary>
[Trait("Tier", "Server")]
public sealed class NodeTimingTests
{
    [Fact]
    public void Percentiles_of_known_values_are_within_the_bucket_error()
    {
        var h = new LatencyHistogram();
        for (var us = 1; us <= 10_000; us++)
        {
            h.RecordMicros(us);
        }

        var s = h.Read();
        Assert.Equal(10_000, s.Count);
        Assert.Equal(5_000.5, s.MeanUs, 3);
        Assert.Equal(10_000, s.MaxUs);
        AssertNear(5_000, s.P50Us);
        AssertNear(9_000, s.P90Us);
        AssertNear(9_900, s.P99Us);
        AssertNear(9_990, s.P999Us);
    }

    [Fact]
    public void Small_values_are_exact_and_negative_ones_count_as_zero()
    {
        var h = new LatencyHistogram();
        h.RecordMicros(7);
        h.RecordMicros(7);
        h.RecordMicros(-5);
        var s = h.Read();
        Assert.Equal(3, s.Count);
        Assert.Equal(7, s.P50Us);
        Assert.Equal(7, s.MaxUs);
        Assert.Equal(14 / 3.0, s.MeanUs, 6);
    }

    [Fact]
    public void Any_single_value_is_reported_within_the_bucket_error()
    {
        var random = new Random(42);
        for (var i = 0; i < 2_000; i++)
        {
            var v = 32 + (long)(random.NextDouble() * Math.Pow(2, random.Next(5, 45)));
            var h = new LatencyHistogram();
            h.RecordMicros(v);
            var s = h.Read();
            Assert.Equal(v, s.MaxUs);
            Assert.InRange(s.P50Us, v * 0.969, v * 1.031);
            Assert.Equal(s.P50Us, s.P999Us);
        }
    }

    [Fact]
    public void A_read_with_reset_starts_afresh()
    {
        var h = new LatencyHistogram();
        h.Record(TimeSpan.FromMilliseconds(3));
        Assert.Equal(1, h.Read(reset: true).Count);
        Assert.Equal(LatencySummary.Empty, h.Read());
        h.Record(TimeSpan.FromMilliseconds(1));
        var s = h.Read();
        Assert.Equal(1, s.Count);
        Assert.Equal(1_000, s.MaxUs);
    }

    [Fact]
    public async Task Concurrent_recording_loses_nothing()
    {
        var h = new LatencyHistogram();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 25_000; i++)
            {
                h.RecordMicros(100 + t);
            }
        })));

        var s = h.Read();
        Assert.Equal(100_000, s.Count);
        Assert.Equal(103, s.MaxUs);
        Assert.Equal(101.5, s.MeanUs, 6);
    }

    [Fact]
    public async Task A_node_times_its_acknowledged_sends_and_commits()
    {
        await using var server = await ParleyTestServer.StartAsync(new Dictionary<string, string?> { ["DiagnosticsEndpoint"] = "true" });
        using var api = new ApiClient(server.BaseUri);
        using var http = new HttpClient { BaseAddress = server.BaseUri };
        var alice = await api.RegisterAsync("alice");
        var room = await api.CreateRoomAsync(alice, "timed");
        await using var ws = await WsTestClient.ConnectAndHelloAsync(server.WsUri, alice.Token);

        // Whatever setting up the room took is not counted once the counts are reset.
        await ReadAsync(http, reset: true);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("ack", (await ws.SendMessageAsync(room, $"message {i}")).GetProperty("op").GetString());
        }

        // A retry of an acknowledged send is answered with the original: it is timed too.
        Assert.Equal("ack", (await ws.SendMessageAsync(room, "again", clientMsgId: "same")).GetProperty("op").GetString());
        Assert.Equal("ack", (await ws.SendMessageAsync(room, "again", clientMsgId: "same")).GetProperty("op").GetString());

        using var report = await ReadAsync(http, reset: true);
        var send = report.RootElement.GetProperty("send");
        var commit = report.RootElement.GetProperty("commit");
        var batches = report.RootElement.GetProperty("batchSize");
        Assert.Equal(5, send.GetProperty("count").GetInt64());
        Assert.Equal(5, report.RootElement.GetProperty("commitWait").GetProperty("count").GetInt64());
        Assert.InRange(commit.GetProperty("count").GetInt64(), 1, 5);
        Assert.True(commit.GetProperty("p50Us").GetDouble() > 0);
        Assert.True(send.GetProperty("p50Us").GetDouble() >= commit.GetProperty("p50Us").GetDouble() * 0.9);

        // Requests per batch add up to the five commits' requests.
        Assert.Equal(5.0, batches.GetProperty("meanUs").GetDouble() * batches.GetProperty("count").GetInt64(), 6);

        // The reset answered the counts and then cleared them.
        using var after = await ReadAsync(http, reset: false);
        Assert.Equal(0, after.RootElement.GetProperty("send").GetProperty("count").GetInt64());
    }

    [Fact]
    public async Task Timing_and_memory_are_not_served_unless_diagnostics_are_on()
    {
        await using var server = await ParleyTestServer.StartAsync();
        using var http = new HttpClient { BaseAddress = server.BaseUri };
        foreach (var path in new[] { "/debug/latency", "/debug/memory" })
        {
            var answer = await http.GetAsync(new Uri(path, UriKind.Relative));
            Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode);
        }
    }

    [Fact]
    public async Task The_memory_reading_counts_live_connections_after_a_collection()
    {
        await using var server = await ParleyTestServer.StartAsync(new Dictionary<string, string?> { ["DiagnosticsEndpoint"] = "true" });
        using var api = new ApiClient(server.BaseUri);
        using var http = new HttpClient { BaseAddress = server.BaseUri };
        var alice = await api.RegisterAsync("alice");
        var bob = await api.RegisterAsync("bob");
        await using var a = await WsTestClient.ConnectAndHelloAsync(server.WsUri, alice.Token);
        var b = await WsTestClient.ConnectAndHelloAsync(server.WsUri, bob.Token);

        using (var two = await ReadMemoryAsync(http))
        {
            var root = two.RootElement;
            Assert.Equal(2, root.GetProperty("connections").GetInt32());
            var heap = root.GetProperty("gcHeapBytes").GetInt64();
            Assert.True(heap > 0);
            Assert.True(root.GetProperty("gcCommittedBytes").GetInt64() >= heap);
            Assert.True(root.GetProperty("rssBytes").GetInt64() > heap);
        }

        await b.DisposeAsync();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        var connections = 2;
        while (connections != 1 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
            using var one = await ReadMemoryAsync(http);
            connections = one.RootElement.GetProperty("connections").GetInt32();
        }

        Assert.Equal(1, connections);
    }

    private static async Task<JsonDocument> ReadMemoryAsync(HttpClient http)
    {
        var answer = await http.GetAsync(new Uri("/debug/memory", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        return JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
    }

    private static void AssertNear(double expected, double actual) =>
        Assert.InRange(actual, expected * 0.97, expected * 1.03);

    private static async Task<JsonDocument> ReadAsync(HttpClient http, bool reset)
    {
        var answer = await http.GetAsync(new Uri($"/debug/latency?reset={(reset ? "true" : "false")}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        return JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
    }
}
