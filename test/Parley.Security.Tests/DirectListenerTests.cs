using System.Text;
using Parley.Security.Tests.Support;
using Parley.Testing;

namespace Parley.Security.Tests;

/// <summary>
/// The node's TCP listener sorts connections by their first bytes: a valid upgrade of /ws is answered by Parley itself
/// and the WebSocket runs on the bare socket; everything else reaches Kestrel untouched on the same port. Kestrel puts a
/// Date header on every response, Parley's 101 has none, which is how these tests tell who answered.
/// </summary>
[Trait("Tier", "Security")]
public sealed class DirectListenerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task An_upgrade_is_answered_by_Parley_and_other_requests_on_the_same_port_by_Kestrel()
    {
        await using var node = await SecurityNode.StartAsync();

        await using (var ws = await RawSocket.ConnectAsync(node.BaseUri))
        {
            await ws.SendAsync(RawSocket.UpgradeRequest(node.BaseUri));
            var head = await ws.ReadHeadAsync(Timeout);
            Assert.Equal(101, RawSocket.StatusOf(head));
            Assert.DoesNotContain("Date:", head, StringComparison.OrdinalIgnoreCase);
        }

        // A plain request: Kestrel's (its 404 for an unknown path, with a Date header).
        await using (var http = await RawSocket.ConnectAsync(node.BaseUri))
        {
            await http.SendAsync($"GET /nothing-here HTTP/1.1\r\nHost: {node.BaseUri.Authority}\r\n\r\n");
            var head = await http.ReadHeadAsync(Timeout);
            Assert.Equal(404, RawSocket.StatusOf(head));
            Assert.Contains("Date:", head, StringComparison.OrdinalIgnoreCase);
        }

        // An upgrade of /ws that is not valid (no key): refused by Kestrel's /ws endpoint, from the same unread bytes.
        await using (var bad = await RawSocket.ConnectAsync(node.BaseUri))
        {
            await bad.SendAsync($"GET /ws HTTP/1.1\r\nHost: {node.BaseUri.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n");
            var head = await bad.ReadHeadAsync(Timeout);
            Assert.Equal(400, RawSocket.StatusOf(head));
            Assert.Contains("Date:", head, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task Upgrade_heads_are_read_as_RFC_6455_has_them_and_whatever_Parley_does_not_take_is_Kestrels()
    {
        await using var node = await SecurityNode.StartAsync();
        var host = node.BaseUri.Authority;

        // The key and answer from RFC 6455 section 1.3: Parley's 101 must carry exactly this Sec-WebSocket-Accept.
        const string Key = "dGhlIHNhbXBsZSBub25jZQ==";
        const string Accept = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        (string Case, string Head, bool Parleys)[] cases =
        [
            ("the usual head", $"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {Key}\r\nSec-WebSocket-Version: 13\r\n\r\n", true),
            ("names in any case, blanks around values, a token list, a query",
                $"GET /ws?v=1 HTTP/1.1\r\nhost:{host}\r\nUPGRADE: \tWebSocket \r\nconnection: keep-alive, Upgrade\r\nsec-websocket-key:   {Key}\t\r\nSEC-WEBSOCKET-VERSION: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n", true),
            ("another path", $"GET /wsx HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {Key}\r\nSec-WebSocket-Version: 13\r\n\r\n", false),
            ("HTTP/1.0", $"GET /ws HTTP/1.0\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {Key}\r\nSec-WebSocket-Version: 13\r\n\r\n", false),
            ("version 8", $"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {Key}\r\nSec-WebSocket-Version: 8\r\n\r\n", false),
            ("no upgrade token", $"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Key: {Key}\r\nSec-WebSocket-Version: 13\r\n\r\n", false),
            ("no host", $"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {Key}\r\nSec-WebSocket-Version: 13\r\n\r\n", false),
            ("a key of 15 bytes", $"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\nSec-WebSocket-Version: 13\r\n\r\n", false),
            ("a header line without a colon", $"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {Key}\r\nSec-WebSocket-Version: 13\r\n\r\n", false),
        ];

        foreach (var (name, request, parleys) in cases)
        {
            await using var socket = await RawSocket.ConnectAsync(node.BaseUri);
            await socket.SendAsync(request);
            var head = await socket.ReadHeadAsync(Timeout);
            if (parleys)
            {
                Assert.True(RawSocket.StatusOf(head) == 101 && !head.Contains("Date:", StringComparison.OrdinalIgnoreCase), $"{name}: Parley's 101 expected, got:\n{head}");
                Assert.Contains(Accept, head, StringComparison.Ordinal);
            }
            else
            {
                Assert.True(head.Contains("Date:", StringComparison.OrdinalIgnoreCase), $"{name}: Kestrel's answer expected, got:\n{head}");
            }
        }
    }

    [Fact]
    public async Task A_request_head_and_a_hello_written_a_few_bytes_at_a_time_are_read_whole()
    {
        await using var node = await SecurityNode.StartAsync();
        using var api = new ApiClient(node.BaseUri);
        var user = await api.RegisterAsync("trickle");
        await using var socket = await RawSocket.ConnectAsync(node.BaseUri);

        var request = Encoding.ASCII.GetBytes(RawSocket.UpgradeRequest(node.BaseUri));
        for (var i = 0; i < request.Length; i += 16)
        {
            await socket.SendAsync(request.AsMemory(i, Math.Min(16, request.Length - i)));
            await Task.Delay(5);
        }

        var head = await socket.ReadHeadAsync(Timeout);
        Assert.Equal(101, RawSocket.StatusOf(head));
        Assert.DoesNotContain("Date:", head, StringComparison.OrdinalIgnoreCase);

        var hello = RawSocket.BuildFrame(1, Encoding.UTF8.GetBytes($"{{\"op\":\"hello\",\"token\":\"{user.Token}\"}}"));
        for (var i = 0; i < hello.Length; i += 3)
        {
            await socket.SendAsync(hello.AsMemory(i, Math.Min(3, hello.Length - i)));
            await Task.Delay(2);
        }

        var welcome = await socket.ReadFrameAsync(Timeout);
        Assert.Equal(1, welcome!.Value.Opcode);
        Assert.Contains("\"op\":\"welcome\"", welcome.Value.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_message_just_under_64_KiB_arrives_whole_and_the_connection_goes_on()
    {
        await using var node = await SecurityNode.StartAsync();
        using var api = new ApiClient(node.BaseUri);
        var user = await api.RegisterAsync("bulky");
        await using var socket = await RawSocket.HelloAsync(node.BaseUri, user.Token);
        var welcome = await socket.ReadFrameAsync(Timeout);
        Assert.Contains("\"op\":\"welcome\"", welcome!.Value.Text, StringComparison.Ordinal);
        var synced = await socket.ReadFrameAsync(Timeout);
        Assert.Contains("\"op\":\"synced\"", synced!.Value.Text, StringComparison.Ordinal);

        // A ping op padded with spaces to 65,000 bytes, then a small one: both answered, in order.
        var big = "{\"op\":\"ping\",\"t\":1}" + new string(' ', 65_000 - 19);
        await socket.SendFrameAsync(1, Encoding.UTF8.GetBytes(big));
        await socket.SendFrameAsync(1, "{\"op\":\"ping\",\"t\":2}"u8);
        var first = await socket.ReadFrameAsync(Timeout);
        var second = await socket.ReadFrameAsync(Timeout);
        Assert.Contains("\"op\":\"pong\"", first!.Value.Text, StringComparison.Ordinal);
        Assert.Contains("\"t\":1", first.Value.Text, StringComparison.Ordinal);
        Assert.Contains("\"t\":2", second!.Value.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stopping_the_node_ends_its_direct_sockets_even_those_without_a_session()
    {
        // A long hello timeout: only the node's stop can end this socket within the test.
        var node = await SecurityNode.StartAsync(new Dictionary<string, string?> { ["HelloTimeoutMs"] = "120000" });
        RawSocket? socket = null;
        var stopped = false;
        try
        {
            socket = await RawSocket.ConnectAsync(node.BaseUri);
            Assert.Equal(101, await socket.UpgradeAsync(node.BaseUri));
            stopped = true;
            await node.DisposeAsync();
            Assert.True(await socket.WaitForEndAsync(Timeout), "the stopped node's listener closes the socket it kept from Kestrel");
        }
        finally
        {
            if (!stopped)
            {
                await node.DisposeAsync();
            }

            if (socket is not null)
            {
                await socket.DisposeAsync();
            }
        }
    }

    [Theory]
    [InlineData(null, 4096)]
    [InlineData("1234", 1234)]
    public async Task The_listening_socket_queues_as_many_connections_as_configured(string? backlog, int expected)
    {
        // A reconnect storm overflowing a short accept queue costs its clients a second each (the kernel drops the SYN).
        var settings = new Dictionary<string, string?>();
        if (backlog is not null)
        {
            settings["ListenBacklog"] = backlog;
        }

        await using var node = await SecurityNode.StartAsync(settings);

        // For a listening socket `ss` shows the accept queue's limit in its Send-Q column.
        var (exit, listening, error) = await ToolRunner.RunAsync(
            "ss", ["-ltnH", "sport", "=", ":" + node.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));
        Assert.True(exit == 0, $"ss failed: {error}");
        var columns = listening.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(columns.Length >= 3, $"ss: '{listening}'");
        Assert.Equal(expected, int.Parse(columns[2], System.Globalization.CultureInfo.InvariantCulture));
    }
}
