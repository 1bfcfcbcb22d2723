using System.Buffers.Binary;
using System.Text;
using Parley.Security.Tests.Support;
using Parley.Testing;

namespace Parley.Security.Tests;

/// <summary>
/// The server's own WebSocket (RFC 6455) seen from a raw socket: control frames answered, fragments joined, the close
/// handshake, and the keep-alive — a silent peer is pinged, one that answers stays, one that does not is dropped.
/// </summary>
[Trait("Tier", "Security")]
public sealed class WebSocketWireTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_ping_is_answered_with_a_pong_carrying_its_payload()
    {
        await using var node = await SecurityNode.StartAsync();
        await using var socket = await RawSocket.ConnectAsync(node.BaseUri);
        Assert.Equal(101, await socket.UpgradeAsync(node.BaseUri));
        var payload = Enumerable.Range(0, 125).Select(i => (byte)i).ToArray();
        await socket.SendFrameAsync(9, payload);
        var pong = await socket.ReadFrameAsync(Timeout);
        Assert.NotNull(pong);
        Assert.Equal(10, pong.Value.Opcode);
        Assert.True(pong.Value.Fin);
        Assert.Equal(payload, pong.Value.Payload);
    }

    [Fact]
    public async Task A_message_in_fragments_with_a_ping_between_them_is_one_message()
    {
        await using var node = await SecurityNode.StartAsync();
        using var api = new ApiClient(node.BaseUri);
        var user = await api.RegisterAsync("frag");
        await using var socket = await RawSocket.ConnectAsync(node.BaseUri);
        Assert.Equal(101, await socket.UpgradeAsync(node.BaseUri));
        var hello = Encoding.UTF8.GetBytes($"{{\"op\":\"hello\",\"token\":\"{user.Token}\"}}");
        await socket.SendFrameAsync(1, hello.AsSpan(0, 5), fin: false);
        await socket.SendFrameAsync(9, "between"u8);
        await socket.SendFrameAsync(0, hello.AsSpan(5, 10), fin: false);
        await socket.SendFrameAsync(0, hello.AsSpan(15), fin: true);

        var pong = await socket.ReadFrameAsync(Timeout);
        Assert.Equal(10, pong!.Value.Opcode);
        Assert.Equal("between", pong.Value.Text);
        var welcome = await socket.ReadFrameAsync(Timeout);
        Assert.Equal(1, welcome!.Value.Opcode);
        Assert.Contains("\"op\":\"welcome\"", welcome.Value.Text, StringComparison.Ordinal);
        Assert.Equal(1, node.Node.Hub.SessionCount);
    }

    [Fact]
    public async Task A_close_frame_is_answered_with_a_close_and_the_connection_ends()
    {
        await using var node = await SecurityNode.StartAsync();
        using var api = new ApiClient(node.BaseUri);
        var user = await api.RegisterAsync("closer");
        await using var socket = await RawSocket.HelloAsync(node.BaseUri, user.Token);
        await Eventually.TrueAsync(() => node.Node.Hub.SessionCount == 1, Timeout, "session");
        var close = new byte[2 + 3];
        BinaryPrimitives.WriteUInt16BigEndian(close, 1000);
        "bye"u8.CopyTo(close.AsSpan(2));
        await socket.SendFrameAsync(8, close);
        Assert.Equal(1000, await socket.ReadCloseAsync(Timeout));
        Assert.True(await socket.WaitForEndAsync(Timeout), "the server ends the connection after the close handshake");
        await Eventually.TrueAsync(() => node.Node.Hub.SessionCount == 0, Timeout, "session detached");
    }

    [Fact]
    public async Task A_close_frame_with_a_reserved_code_fails_the_connection_with_1002()
    {
        await using var node = await SecurityNode.StartAsync();
        await using var socket = await RawSocket.ConnectAsync(node.BaseUri);
        Assert.Equal(101, await socket.UpgradeAsync(node.BaseUri));
        var close = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(close, 1005);
        await socket.SendFrameAsync(8, close);
        Assert.Equal(1002, await socket.ReadCloseAsync(Timeout));
    }

    [Fact]
    public async Task A_silent_peer_that_answers_pings_stays_and_one_that_does_not_is_dropped()
    {
        await using var node = await SecurityNode.StartAsync(new Dictionary<string, string?> { ["HeartbeatMs"] = "500" });
        using var api = new ApiClient(node.BaseUri);
        var user = await api.RegisterAsync("beat");
        await using var answering = await RawSocket.HelloAsync(node.BaseUri, user.Token);
        await using var mute = await RawSocket.HelloAsync(node.BaseUri, user.Token);
        await Eventually.TrueAsync(() => node.Node.Hub.SessionCount == 2, Timeout, "two sessions");

        // For five periods neither sends a frame of its own; only the answering one returns the server's pings.
        var pings = 0;
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(2.5);
        while (DateTime.UtcNow < until)
        {
            var frame = await answering.ReadFrameAsync(Timeout);
            Assert.NotNull(frame);
            if (frame.Value.Opcode == 9)
            {
                pings++;
                await answering.SendFrameAsync(10, frame.Value.Payload);
            }
        }

        Assert.InRange(pings, 2, 12);
        await Eventually.TrueAsync(() => node.Node.Hub.SessionCount == 1, Timeout, "the mute peer dropped");
        var muteEnd = await mute.ReadCloseAsync(Timeout);
        Assert.True(muteEnd is null or 1001, $"mute peer closed with {muteEnd}");

        // The answering peer is still served.
        await answering.SendFrameAsync(1, "{\"op\":\"ping\",\"t\":7}"u8);
        while (true)
        {
            var frame = await answering.ReadFrameAsync(Timeout);
            Assert.NotNull(frame);
            if (frame.Value.Opcode == 1 && frame.Value.Text.Contains("\"pong\"", StringComparison.Ordinal))
            {
                break;
            }
        }
    }

    [Fact]
    public async Task A_peer_that_trickles_a_frame_without_ever_finishing_it_is_dropped_after_two_periods()
    {
        await using var node = await SecurityNode.StartAsync(new Dictionary<string, string?> { ["HeartbeatMs"] = "500" });
        using var api = new ApiClient(node.BaseUri);
        var user = await api.RegisterAsync("loris");
        await using var loris = await RawSocket.HelloAsync(node.BaseUri, user.Token);
        await Eventually.TrueAsync(() => node.Node.Hub.SessionCount == 1, Timeout, "the session");

        // A text frame declaring 4,000 bytes: its header and ten bytes, then one more byte every 100 ms. Each byte is
        // "heard", so silence never drops it; only the frame's age can.
        var frame = RawSocket.BuildFrame(1, new byte[4000]);
        await loris.SendAsync(frame.AsMemory(0, 18));
        using var stop = new CancellationTokenSource();
        var trickle = Task.Run(async () =>
        {
            for (var at = 18; at < frame.Length && !stop.IsCancellationRequested; at++)
            {
                await Task.Delay(100, stop.Token);
                await loris.SendAsync(frame.AsMemory(at, 1));
            }
        });

        // Two periods (1 s) plus the keep-alive's visit; the bound is loose for a busy machine.
        await Eventually.TrueAsync(() => node.Node.Hub.SessionCount == 0, TimeSpan.FromSeconds(8), "the trickling peer dropped");
        await stop.CancelAsync();
        try
        {
            await trickle.WaitAsync(Timeout);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or System.Net.Sockets.SocketException)
        {
            // Cancelled, or the server already tore the connection down.
        }
    }
}
