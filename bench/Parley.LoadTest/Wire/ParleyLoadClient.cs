using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
using System.Text.Json;

namespace Parley.LoadTest.Wire;

/// <summary>Parley protocol v1: <c>hello</c> (with resume) → backlog → <c>synced</c>; <c>send</c> → <c>ack</c>; <c>msg</c>.</summary>
public sealed class ParleyLoadClient(ClientSpec spec, Metrics metrics) : LoadClient(spec, metrics)
{
    private static readonly byte[] AckKey = "\"clientMsgId\":\"k"u8.ToArray();

    private byte[]? _fromSelf;

    protected override string PathAndQuery => "/ws";

    protected override bool IsOwn(ReadOnlySpan<byte> frame) =>
        frame.IndexOf(_fromSelf ??= System.Text.Encoding.UTF8.GetBytes($"\"from\":\"{Spec.UserId}\"")) >= 0;

    protected override Task OnOpenAsync()
    {
        var hello = new ArrayBufferWriter<byte>(Spec.Token.Length + 64);
        using (var json = new Utf8JsonWriter(hello))
        {
            json.WriteStartObject();
            json.WriteString("op"u8, "hello"u8);
            json.WriteString("token"u8, Spec.Token);
            if (Spec.Resume is { Count: > 0 } resume)
            {
                json.WriteStartObject("resume"u8);
                foreach (var (conv, seq) in resume)
                {
                    json.WriteNumber(conv, seq);
                }

                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        return SendTextAsync(hello.WrittenMemory);
    }

    public override Task SendChatAsync(string dest, bool direct, long scheduled, long n, int bodyBytes) =>
        SendTextAsync($"{{\"op\":\"send\",\"conv\":\"{dest}\",\"clientMsgId\":\"k{scheduled}_{n}\",\"body\":\"{Body(scheduled, bodyBytes)}\"}}");

    protected override void OnFrame(ReadOnlySpan<byte> frame)
    {
        if (frame.StartsWith("{\"op\":\"msg\""u8))
        {
            CountMessage(frame);
        }
        else if (frame.StartsWith("{\"op\":\"ack\""u8))
        {
            var at = frame.IndexOf(AckKey);
            if (at >= 0 && Utf8Parser.TryParse(frame[(at + AckKey.Length)..], out long scheduled, out _))
            {
                Metrics.RecordAck(Spec.Id, scheduled, Stopwatch.GetTimestamp());
            }
        }
        else if (frame.StartsWith("{\"op\":\"synced\""u8))
        {
            SetReady(true);
        }
        else if (frame.StartsWith("{\"op\":\"error\""u8))
        {
            Metrics.RecordError(System.Text.Encoding.UTF8.GetString(frame));
            if (frame.IndexOf("\"unauthorized\""u8) >= 0)
            {
                SetReady(false);
            }
        }
    }
}

/// <summary>
/// Socket.IO 4 over its WebSocket transport only (Engine.IO v4 framing: <c>0</c> open, <c>2</c>/<c>3</c> ping/pong,
/// <c>4</c> message; Socket.IO packets inside: <c>40</c> connect with auth, <c>42</c> event).
/// </summary>
public sealed class SocketIoLoadClient(ClientSpec spec, Metrics metrics) : LoadClient(spec, metrics)
{
    protected override string PathAndQuery => "/socket.io/?EIO=4&transport=websocket";

    protected override Task OnOpenAsync() => Task.CompletedTask;

    public override Task SendChatAsync(string dest, bool direct, long scheduled, long n, int bodyBytes) =>
        SendTextAsync(direct
            ? $"42[\"dm\",{{\"to\":\"{dest}\",\"body\":\"{Body(scheduled, bodyBytes)}\"}}]"
            : $"42[\"msg\",{{\"room\":\"{dest}\",\"body\":\"{Body(scheduled, bodyBytes)}\"}}]");

    protected override void OnFrame(ReadOnlySpan<byte> frame)
    {
        if (frame.Length == 0)
        {
            return;
        }

        switch (frame[0])
        {
            case (byte)'2':
                _ = SendTextAsync("3"u8.ToArray());
                break;
            case (byte)'0':
                // Engine.IO open: connect to the default namespace with the user and rooms as auth, as the docs' chat does.
                _ = SendTextAsync("40" + JsonSerializer.Serialize(new Dictionary<string, object> { ["userId"] = Spec.UserId, ["rooms"] = Spec.Rooms }));
                break;
            case (byte)'4' when frame.Length > 1:
                switch (frame[1])
                {
                    case (byte)'0':
                        SetReady(true);
                        break;
                    case (byte)'2':
                        CountMessage(frame);
                        break;
                    case (byte)'4':
                        Metrics.RecordError(System.Text.Encoding.UTF8.GetString(frame));
                        SetReady(false);
                        break;
                }

                break;
            case (byte)'1':
                SetReady(false);
                break;
        }
    }
}

/// <summary>
/// ASP.NET Core SignalR's JSON hub protocol over WebSocket without negotiate (records end with 0x1E): handshake,
/// a <c>Join</c> invocation whose completion means ready, then non-blocking invocations; pings both ways.
/// </summary>
public sealed class SignalRLoadClient(ClientSpec spec, Metrics metrics) : LoadClient(spec, metrics)
{
    private const byte RecordSeparator = 0x1e;
    private static readonly byte[] Ping = "{\"type\":6}\u001e"u8.ToArray();
    private bool _handshaken;

    protected override string PathAndQuery => "/chat?user=" + Uri.EscapeDataString(Spec.UserId);

    protected override Task OnOpenAsync()
    {
        _handshaken = false;
        return SendTextAsync("{\"protocol\":\"json\",\"version\":1}\u001e");
    }

    public override Task SendChatAsync(string dest, bool direct, long scheduled, long n, int bodyBytes) =>
        SendTextAsync($"{{\"type\":1,\"target\":\"{(direct ? "SendToUser" : "SendToRoom")}\",\"arguments\":[\"{dest}\",\"{Body(scheduled, bodyBytes)}\"]}}\u001e");

    public override Task HeartbeatAsync() => IsReady ? SendTextAsync(Ping) : Task.CompletedTask;

    protected override void OnFrame(ReadOnlySpan<byte> frame)
    {
        while (frame.Length > 0)
        {
            var end = frame.IndexOf(RecordSeparator);
            var record = end < 0 ? frame : frame[..end];
            OnRecord(record);
            frame = end < 0 ? [] : frame[(end + 1)..];
        }
    }

    private void OnRecord(ReadOnlySpan<byte> record)
    {
        if (!_handshaken)
        {
            _handshaken = true;
            if (record.IndexOf("\"error\""u8) >= 0)
            {
                Metrics.RecordError(System.Text.Encoding.UTF8.GetString(record));
                SetReady(false);
                return;
            }

            if (Spec.Rooms.Count == 0)
            {
                SetReady(true);
            }
            else
            {
                _ = SendTextAsync("{\"type\":1,\"invocationId\":\"j\",\"target\":\"Join\",\"arguments\":[" + JsonSerializer.Serialize(Spec.Rooms) + "]}\u001e");
            }

            return;
        }

        if (record.StartsWith("{\"type\":1,"u8))
        {
            CountMessage(record);
        }
        else if (record.StartsWith("{\"type\":3,"u8))
        {
            if (record.IndexOf("\"error\""u8) >= 0)
            {
                Metrics.RecordError(System.Text.Encoding.UTF8.GetString(record));
                SetReady(false);
            }
            else
            {
                SetReady(true);
            }
        }
        else if (record.StartsWith("{\"type\":7"u8))
        {
            Metrics.RecordError(System.Text.Encoding.UTF8.GetString(record));
            SetReady(false);
        }
    }
}
