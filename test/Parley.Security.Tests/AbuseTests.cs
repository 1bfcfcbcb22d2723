using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using Parley.Security.Tests.Support;
using Parley.Testing;
using Xunit.Abstractions;

namespace Parley.Security.Tests;

/// <summary>
/// Abuse of the transport: a user flooding sends, thousands of sockets that never authenticate, slowloris on the HTTP
/// port, frames that never end. Each attack is contained, and everyone else keeps chatting.
/// </summary>
[Trait("Tier", "Security")]
public sealed class AbuseTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_user_sending_1000_messages_a_second_has_over_99_percent_refused_and_others_are_unaffected()
    {
        await using var node = await SecurityNode.StartAsync();
        using var api = new ApiClient(node.BaseUri);
        var flooder = await api.RegisterAsync("flooder");
        var talker = await api.RegisterAsync("talker");
        var reader = await api.RegisterAsync("reader");
        var room = await api.CreateRoomAsync(talker, "flooded");
        await api.JoinAsync(flooder, room);
        await api.JoinAsync(reader, room);
        await using var listen = await WsTestClient.ConnectAndHelloAsync(node.WsUri, reader.Token);
        await using var talk = await WsTestClient.ConnectAndHelloAsync(node.WsUri, talker.Token);

        // Long enough that the initial burst (40) is well under 1 % of what is sent.
        var duration = TimeSpan.FromSeconds(8);
        var flood = Task.Run(() => FloodAsync(node.WsUri, flooder.Token, room, perSecond: 1000, duration));
        var latencies = new List<double>();
        var clock = Stopwatch.StartNew();
        var sent = 0;
        while (clock.Elapsed < duration)
        {
            var started = Stopwatch.StartNew();
            var answer = await talk.SendMessageAsync(room, "normal message " + sent, "calm" + sent);
            Assert.Equal("ack", answer.Op());
            latencies.Add(started.Elapsed.TotalMilliseconds);
            sent++;
            await Task.Delay(100);
        }

        var (attempts, closes4029) = await flood.WaitAsync(TimeSpan.FromSeconds(60));
        await listen.WaitForAsync(f => f.Op() == "msg" && f.Str("clientMsgId") == "calm" + (sent - 1), TimeSpan.FromSeconds(10));

        var stored = await api.AllMessagesAsync(reader, room);
        var fromFlooder = stored.Count(m => m.Str("from") == flooder.UserId);
        var refused = 1.0 - ((double)fromFlooder / attempts);
        output.WriteLine($"flood: {attempts} sends in {duration.TotalSeconds} s, {fromFlooder} stored, {refused:P2} refused, {closes4029} closes with 4029; bystander p99 {Stats.Percentile(latencies, 0.99):0.0} ms over {sent} sends");
        Assert.True(attempts >= 6000, $"the flood reached only {attempts} sends");
        Assert.True(refused >= 0.99, $"{fromFlooder} of {attempts} flood messages were stored ({refused:P2} refused)");
        Assert.True(closes4029 >= 1, "a flooding connection is closed with 4029");
        Assert.Equal(sent, stored.Count(m => m.Str("from") == talker.UserId));
        Assert.True(Stats.Percentile(latencies, 0.99) < 2000, $"bystander p99 {Stats.Percentile(latencies, 0.99):0} ms");
        Assert.Empty(node.Logs.Errors);
    }

    /// <summary>Sends at <paramref name="perSecond"/> for <paramref name="duration"/>, reconnecting whenever the server closes the socket.</summary>
    private static async Task<(int Attempts, int Closes4029)> FloodAsync(Uri ws, string token, string room, int perSecond, TimeSpan duration)
    {
        var attempts = 0;
        var closes = 0;
        var clock = Stopwatch.StartNew();
        WsTestClient? client = null;
        try
        {
            while (clock.Elapsed < duration)
            {
                if (client is null || client.Closed.IsCompleted)
                {
                    if (client is not null)
                    {
                        closes += await client.WaitClosedAsync(TimeSpan.FromSeconds(5)) == 4029 ? 1 : 0;
                        await client.DisposeAsync();
                    }

                    client = await WsTestClient.ConnectAndHelloAsync(ws, token);
                }

                var due = (int)(clock.Elapsed.TotalSeconds * perSecond);
                while (attempts < due && !client.Closed.IsCompleted)
                {
                    try
                    {
                        await client.SendRawAsync($"{{\"op\":\"send\",\"conv\":\"{room}\",\"clientMsgId\":\"flood{attempts}\",\"body\":\"spam {attempts}\"}}");
                        attempts++;
                    }
                    catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
                    {
                        break;
                    }
                }

                await Task.Delay(1);
            }
        }
        finally
        {
            if (client is not null)
            {
                await client.DisposeAsync();
            }
        }

        return (attempts, closes);
    }

    [Fact]
    public async Task Five_thousand_sockets_that_never_say_hello_are_all_closed_after_5_seconds_and_nothing_is_kept()
    {
        const int Count = 5000;
        await using var node = await SecurityNode.StartAsync();
        using var api = new ApiClient(node.BaseUri);
        var user = await api.RegisterAsync("present");
        var room = await api.CreateRoomAsync(user, "while idle sockets wait");
        await Task.Delay(200);
        var fdsBefore = Stats.OpenFileDescriptors();

        // Two waves: the first warms Kestrel's buffer pools (memory a server keeps on purpose); the second must leave
        // the heap where the first left it, so nothing accumulates per idle socket.
        await WaveAsync(1);
        var heapAfterFirst = Stats.HeapAfterFullGc();
        await WaveAsync(2);
        var heapGrowth = Stats.HeapAfterFullGc() - heapAfterFirst;
        output.WriteLine($"managed heap growth over the second wave: {heapGrowth / 1024 / 1024.0:0.0} MiB");
        Assert.True(heapGrowth < 32L * 1024 * 1024, $"managed heap grew by {heapGrowth / 1024 / 1024} MiB over the second wave");
        Assert.Empty(node.Logs.Errors);

        async Task WaveAsync(int wave)
        {
            var sockets = new ConcurrentBag<(RawSocket Socket, TimeSpan Upgraded)>();
            var clock = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, Count), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, _) =>
            {
                // Spread over source addresses, as many clients would be.
                var socket = await RawSocket.ConnectAsync(node.BaseUri, IPAddress.Parse($"127.0.0.{2 + (i % 200)}"));
                // Taken before the upgrade request leaves: the server's 5 s start later, so "closed after" is a lower bound.
                var requested = clock.Elapsed;
                Assert.Equal(101, await socket.UpgradeAsync(node.BaseUri));
                sockets.Add((socket, requested));
            });
            var opened = clock.Elapsed;
            var fdsOpen = Stats.OpenFileDescriptors();
            Assert.Equal(0, node.Node.Hub.SessionCount);

            // Meanwhile a real user chats normally.
            await using (var ws = await WsTestClient.ConnectAndHelloAsync(node.WsUri, user.Token))
            {
                Assert.Equal("ack", (await ws.SendMessageAsync(room, $"still here ({wave})")).Op());
            }

            var closes = await Task.WhenAll(sockets.Select(async s =>
            {
                var code = await s.Socket.ReadCloseAsync(TimeSpan.FromSeconds(30));
                var after = clock.Elapsed - s.Upgraded;
                await s.Socket.DisposeAsync();
                return (Code: code, After: after);
            }));
            var closedBy = clock.Elapsed;
            sockets.Clear();

            Assert.All(closes, c => Assert.Equal(4001, c.Code));
            var earliest = closes.Min(c => c.After);
            var latest = closes.Max(c => c.After);
            output.WriteLine($"wave {wave}: {Count} idle sockets opened in {opened.TotalSeconds:0.0} s (fds {fdsBefore} -> {fdsOpen}); closed 4001 between {earliest.TotalSeconds:0.00} and {latest.TotalSeconds:0.00} s after their upgrade request; all closed {closedBy.TotalSeconds:0.0} s after the first connect");
            Assert.True(earliest >= TimeSpan.FromSeconds(4.9), $"a socket was closed {earliest.TotalSeconds:0.00} s after its upgrade request");
            // Generous: on a shared machine, 5,000 timers and reads compete with everything else.
            Assert.True(latest <= TimeSpan.FromSeconds(30), $"a socket was closed only {latest.TotalSeconds:0.00} s after its upgrade");

            // Nothing is kept: descriptors come back and no session was ever made.
            await Eventually.TrueAsync(() => Stats.OpenFileDescriptors() <= fdsBefore + 50, TimeSpan.FromSeconds(20), $"descriptors back near {fdsBefore} (now {Stats.OpenFileDescriptors()})");
            Assert.Equal(0, node.Node.Hub.SessionCount);
        }
    }

    [Fact]
    public async Task Slowloris_connections_do_not_delay_legitimate_requests_and_are_cut_off_by_the_header_timeout()
    {
        const int Slow = 1500;
        await using var node = await SecurityNode.StartAsync();
        using var api = new ApiClient(node.BaseUri);
        var user = await api.RegisterAsync("patient");
        var fdsBefore = Stats.OpenFileDescriptors();

        var clock = Stopwatch.StartNew();
        var slow = new ConcurrentBag<RawSocket>();
        await Parallel.ForEachAsync(Enumerable.Range(0, Slow), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, _) =>
        {
            var socket = await RawSocket.ConnectAsync(node.BaseUri, IPAddress.Parse($"127.0.0.{2 + (i % 200)}"));
            await socket.SendAsync($"GET /healthz HTTP/1.1\r\nHost: {node.BaseUri.Authority}\r\nX-Slow: ");
            slow.Add(socket);
        });

        // Slow bodies too: a login whose body arrives a byte a second.
        var slowBodies = new List<RawSocket>();
        for (var i = 0; i < 20; i++)
        {
            var socket = await RawSocket.ConnectAsync(node.BaseUri);
            await socket.SendAsync($"POST /api/v1/auth/login HTTP/1.1\r\nHost: {node.BaseUri.Authority}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{{");
            slowBodies.Add(socket);
        }

        using var stopDrip = new CancellationTokenSource();
        var drip = Task.Run(async () =>
        {
            // One more header byte per connection per second: never a complete request.
            while (!stopDrip.IsCancellationRequested)
            {
                foreach (var s in slow.Concat(slowBodies))
                {
                    try
                    {
                        await s.SendAsync("a"u8.ToArray(), TimeSpan.FromSeconds(1));
                    }
                    catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException or ObjectDisposedException)
                    {
                    }
                }

                await Task.Delay(1000, CancellationToken.None);
            }
        });

        var rest = new List<double>();
        var handshakes = new List<double>();
        while (clock.Elapsed < TimeSpan.FromSeconds(8))
        {
            var t = Stopwatch.StartNew();
            Assert.Equal(HttpStatusCode.OK, (await api.CallAsync(HttpMethod.Get, "healthz")).Status);
            rest.Add(t.Elapsed.TotalMilliseconds);
            t.Restart();
            await using (var ws = await WsTestClient.ConnectAndHelloAsync(node.WsUri, user.Token))
            {
                handshakes.Add(t.Elapsed.TotalMilliseconds);
            }

            await Task.Delay(250);
        }

        // Kestrel's request-headers timeout (10 s) ends every slowloris connection; the body-rate minimum ends the slow bodies.
        var ended = await Task.WhenAll(slow.Concat(slowBodies).Select(s => s.WaitForEndAsync(TimeSpan.FromSeconds(25))));
        var cutOff = clock.Elapsed;
        await stopDrip.CancelAsync();
        await drip.WaitAsync(TimeSpan.FromSeconds(30));
        foreach (var s in slow.Concat(slowBodies))
        {
            await s.DisposeAsync();
        }

        output.WriteLine($"{Slow} slowloris + {slowBodies.Count} slow-body connections; legit REST p99 {Stats.Percentile(rest, 0.99):0.0} ms (max {rest.Max():0.0}), WS handshake+hello p99 {Stats.Percentile(handshakes, 0.99):0.0} ms (max {handshakes.Max():0.0}) over {rest.Count} rounds; {ended.Count(e => e)} cut off by {cutOff.TotalSeconds:0.0} s");
        Assert.True(rest.Max() < 2000, $"a legitimate REST call took {rest.Max():0} ms");
        Assert.True(handshakes.Max() < 2000, $"a legitimate WebSocket handshake took {handshakes.Max():0} ms");
        Assert.All(ended, Assert.True);
        await Eventually.TrueAsync(() => Stats.OpenFileDescriptors() <= fdsBefore + 50, TimeSpan.FromSeconds(20), "descriptors released");
    }

    [Fact]
    public async Task A_fragmented_frame_that_never_ends_is_closed_at_64_KiB_even_before_hello()
    {
        await using var node = await SecurityNode.StartAsync();
        await using var socket = await RawSocket.ConnectAsync(node.BaseUri);
        Assert.Equal(101, await socket.UpgradeAsync(node.BaseUri));
        var closing = socket.ReadCloseAsync(TimeSpan.FromSeconds(10));
        var fragment = Encoding.ASCII.GetBytes(new string(' ', 1024));
        var sent = 0;
        try
        {
            await socket.SendFrameAsync(1, fragment, fin: false);
            sent += fragment.Length;
            while (!closing.IsCompleted && sent < 1024 * 1024)
            {
                // Pings between fragments are legal (RFC 6455 5.4) and must not reset the count.
                if (sent % (16 * 1024) == 0)
                {
                    await socket.SendFrameAsync(9, "x"u8);
                }

                await socket.SendFrameAsync(0, fragment, fin: false);
                sent += fragment.Length;
            }
        }
        catch (IOException)
        {
            // The server may reset the connection while we still write.
        }

        Assert.Equal(1009, await closing);
        output.WriteLine($"fragments sent before the close arrived: {sent / 1024} KiB");
        Assert.Equal(0, node.Node.Hub.SessionCount);
    }

    [Fact]
    public async Task A_frame_header_claiming_2_to_the_40_bytes_is_closed_at_the_cap_without_waiting_for_them()
    {
        await using var node = await SecurityNode.StartAsync();
        using var api = new ApiClient(node.BaseUri);
        var user = await api.RegisterAsync("liar");
        await using var socket = await RawSocket.ConnectAsync(node.BaseUri);
        Assert.Equal(101, await socket.UpgradeAsync(node.BaseUri));
        await socket.SendFrameAsync(1, Encoding.UTF8.GetBytes($"{{\"op\":\"hello\",\"token\":\"{user.Token}\"}}"));
        var closing = socket.ReadCloseAsync(TimeSpan.FromSeconds(10));
        var heapBefore = GC.GetTotalMemory(false);
        // A zero mask key: the spaces that follow arrive unmasked as spaces, valid UTF-8, so only the size can stop them.
        var header = RawSocket.BuildFrame(1, [], declaredLength: 1UL << 40, maskKey: new byte[4]);
        await socket.SendAsync(header);
        var spaces = Enumerable.Repeat((byte)' ', 8192).ToArray();
        try
        {
            for (var i = 0; i < 64 && !closing.IsCompleted; i++)
            {
                await socket.SendAsync(spaces);
            }
        }
        catch (IOException)
        {
        }

        Assert.Equal(1009, await closing);
        Assert.True(GC.GetTotalMemory(false) - heapBefore < 256L * 1024 * 1024, "the claimed length was allocated");
    }

    [Fact]
    public async Task A_continuation_claiming_nearly_2_to_the_63_bytes_is_closed_at_the_cap_without_an_error()
    {
        await using var node = await SecurityNode.StartAsync();
        using var api = new ApiClient(node.BaseUri);
        var user = await api.RegisterAsync("wrapper");
        await using var socket = await RawSocket.HelloAsync(node.BaseUri, user.Token);
        var closing = socket.ReadCloseAsync(TimeSpan.FromSeconds(10));

        // One byte of a fragmented message, then a last fragment whose declared length plus that byte passes 2^63 - 1.
        await socket.SendFrameAsync(1, " "u8, fin: false);
        await socket.SendAsync(RawSocket.BuildFrame(0, [], declaredLength: (ulong)long.MaxValue));

        Assert.Equal(1009, await closing);
        await using var again = await RawSocket.HelloAsync(node.BaseUri, user.Token);
        var welcome = await again.ReadFrameAsync(TimeSpan.FromSeconds(10));
        Assert.StartsWith("{\"op\":\"welcome\"", welcome?.Text);
        Assert.Empty(node.Logs.Errors);
    }

    [Fact]
    public async Task A_small_frame_left_unfinished_before_hello_is_closed_by_the_hello_timeout()
    {
        await using var node = await SecurityNode.StartAsync();
        await using var socket = await RawSocket.ConnectAsync(node.BaseUri);
        Assert.Equal(101, await socket.UpgradeAsync(node.BaseUri));
        var clock = Stopwatch.StartNew();
        await socket.SendFrameAsync(1, "{\"op\":\"hel"u8, fin: false);
        Assert.Equal(4001, await socket.ReadCloseAsync(TimeSpan.FromSeconds(15)));
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(12));
        Assert.True(await socket.WaitForEndAsync(TimeSpan.FromSeconds(10)), "the server lets go of the connection");
    }

    [Theory]
    [InlineData("unmasked client frame")]
    [InlineData("reserved opcode")]
    [InlineData("fragmented ping")]
    [InlineData("continuation without a start")]
    [InlineData("invalid UTF-8 in a text frame")]
    public async Task Websocket_protocol_violations_close_that_socket_and_nothing_else(string violation)
    {
        await using var node = await SecurityNode.StartAsync();
        using var api = new ApiClient(node.BaseUri);
        var user = await api.RegisterAsync("proto");
        await using var bystander = await WsTestClient.ConnectAndHelloAsync(node.WsUri, user.Token);
        await using var socket = await RawSocket.ConnectAsync(node.BaseUri);
        Assert.Equal(101, await socket.UpgradeAsync(node.BaseUri));
        await socket.SendFrameAsync(1, Encoding.UTF8.GetBytes($"{{\"op\":\"hello\",\"token\":\"{user.Token}\"}}"));
        await Eventually.TrueAsync(() => node.Node.Hub.SessionCount == 2, TimeSpan.FromSeconds(10), "second session");
        try
        {
            switch (violation)
            {
                case "unmasked client frame":
                    await socket.SendFrameAsync(1, "{\"op\":\"ping\"}"u8, masked: false);
                    break;
                case "reserved opcode":
                    await socket.SendFrameAsync(3, "x"u8);
                    break;
                case "fragmented ping":
                    await socket.SendFrameAsync(9, "x"u8, fin: false);
                    break;
                case "continuation without a start":
                    await socket.SendFrameAsync(0, "{}"u8);
                    break;
                default:
                    await socket.SendFrameAsync(1, [(byte)'{', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)'}']);
                    break;
            }
        }
        catch (IOException)
        {
        }

        var code = await socket.ReadCloseAsync(TimeSpan.FromSeconds(10));
        output.WriteLine($"{violation}: close {code?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(connection dropped)"}");
        Assert.True(code is null or 1002 or 1007, $"close code {code}");
        await Eventually.TrueAsync(() => node.Node.Hub.SessionCount == 1, TimeSpan.FromSeconds(10), "the violating session ends");
        await bystander.SendAsync(new { op = "ping", t = 1 });
        await bystander.WaitForOpAsync("pong");
        Assert.Empty(node.Logs.Errors);
    }
}
