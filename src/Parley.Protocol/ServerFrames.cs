using System.Buffers;
using System.Text.Json;

namespace Parley.Protocol;

/// <summary>
/// Serializes server frames to UTF-8 JSON. Every method returns a fresh array that may be shared by many connections:
/// a frame is serialized once and the same bytes are written to every socket.
/// </summary>
public static class ServerFrames
{
    [ThreadStatic] private static ArrayBufferWriter<byte>? _threadBuffer;
    [ThreadStatic] private static Utf8JsonWriter? _threadWriter;

    private static readonly JsonEncodedText Op = JsonEncodedText.Encode("op");

    private static Utf8JsonWriter Begin(string op)
    {
        var buffer = _threadBuffer ??= new ArrayBufferWriter<byte>(512);
        buffer.ResetWrittenCount();
        var writer = _threadWriter ??= new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true });
        writer.Reset(buffer);
        writer.WriteStartObject();
        writer.WriteString(Op, op);
        return writer;
    }

    private static byte[] End(Utf8JsonWriter writer)
    {
        writer.WriteEndObject();
        writer.Flush();
        return _threadBuffer!.WrittenSpan.ToArray();
    }

    /// <summary><c>{"op":"msg",…Message}</c>.</summary>
    public static byte[] Message(StoredMessage m)
    {
        var w = Begin("msg");
        WriteMessageFields(w, m);
        return End(w);
    }

    /// <summary>Writes the fields of a Message object (without braces).</summary>
    public static void WriteMessageFields(Utf8JsonWriter w, StoredMessage m)
    {
        w.WriteString("conv"u8, m.Conv);
        w.WriteNumber("seq"u8, m.Seq);
        w.WriteString("id"u8, m.Id);
        w.WriteString("from"u8, m.From);
        w.WriteString("fromName"u8, m.FromName);
        w.WriteString("body"u8, m.Body);
        w.WriteNumber("ts"u8, m.Ts);
        w.WriteString("clientMsgId"u8, m.ClientMsgId);
        w.WriteString("node"u8, m.Node);
    }

    /// <summary><c>{"op":"ack","conv","clientMsgId","seq","ts"}</c>.</summary>
    public static byte[] Ack(string conv, string clientMsgId, long seq, long ts)
    {
        var w = Begin("ack");
        w.WriteString("conv"u8, conv);
        w.WriteString("clientMsgId"u8, clientMsgId);
        w.WriteNumber("seq"u8, seq);
        w.WriteNumber("ts"u8, ts);
        return End(w);
    }

    /// <summary><c>{"op":"error","ref","code","message"}</c>.</summary>
    public static byte[] Error(string? reference, string code, string message)
    {
        var w = Begin("error");
        if (reference is null)
        {
            w.WriteNull("ref"u8);
        }
        else
        {
            w.WriteString("ref"u8, reference);
        }

        w.WriteString("code"u8, code);
        w.WriteString("message"u8, message);
        return End(w);
    }

    /// <summary><c>{"op":"welcome","userId","username","node","heartbeatMs"}</c>.</summary>
    public static byte[] Welcome(string userId, string username, string node, int heartbeatMs)
    {
        var w = Begin("welcome");
        w.WriteString("userId"u8, userId);
        w.WriteString("username"u8, username);
        w.WriteString("node"u8, node);
        w.WriteNumber("heartbeatMs"u8, heartbeatMs);
        return End(w);
    }

    /// <summary><c>{"op":"gap","conv","fromSeq","toSeq"}</c>: messages fromSeq..toSeq (inclusive) are to be read through history.</summary>
    public static byte[] Gap(string conv, long fromSeq, long toSeq)
    {
        var w = Begin("gap");
        w.WriteString("conv"u8, conv);
        w.WriteNumber("fromSeq"u8, fromSeq);
        w.WriteNumber("toSeq"u8, toSeq);
        return End(w);
    }

    /// <summary><c>{"op":"synced"}</c>: the backlog after hello is complete.</summary>
    public static byte[] Synced()
    {
        var w = Begin("synced");
        return End(w);
    }

    /// <summary><c>{"op":"receipt","conv","userId","kind","seq"}</c>.</summary>
    public static byte[] Receipt(string conv, string userId, WatermarkKind kind, long seq)
    {
        var w = Begin("receipt");
        w.WriteString("conv"u8, conv);
        w.WriteString("userId"u8, userId);
        w.WriteString("kind"u8, kind == WatermarkKind.Read ? "read" : "delivered");
        w.WriteNumber("seq"u8, seq);
        return End(w);
    }

    /// <summary><c>{"op":"typing","conv","userId","username"}</c>.</summary>
    public static byte[] Typing(string conv, string userId, string username)
    {
        var w = Begin("typing");
        w.WriteString("conv"u8, conv);
        w.WriteString("userId"u8, userId);
        w.WriteString("username"u8, username);
        return End(w);
    }

    /// <summary><c>{"op":"presence","userId","status"}</c>.</summary>
    public static byte[] Presence(string userId, bool online)
    {
        var w = Begin("presence");
        w.WriteString("userId"u8, userId);
        w.WriteString("status"u8, online ? "online" : "offline");
        return End(w);
    }

    /// <summary><c>{"op":"member","conv","userId","username","change"}</c>.</summary>
    public static byte[] Member(string conv, string userId, string username, bool joined)
    {
        var w = Begin("member");
        w.WriteString("conv"u8, conv);
        w.WriteString("userId"u8, userId);
        w.WriteString("username"u8, username);
        w.WriteString("change"u8, joined ? "joined" : "left");
        return End(w);
    }

    /// <summary><c>{"op":"conversation","conversation":Conversation}</c>.</summary>
    public static byte[] Conversation(ConversationDto conversation)
    {
        var w = Begin("conversation");
        w.WritePropertyName("conversation"u8);
        JsonSerializer.Serialize(w, conversation, ProtocolJson.Default.ConversationDto);
        return End(w);
    }

    /// <summary><c>{"op":"pong","t"?}</c>; <paramref name="rawT"/> is the raw JSON of the ping's t.</summary>
    public static byte[] Pong(string? rawT)
    {
        var w = Begin("pong");
        if (rawT is not null)
        {
            w.WritePropertyName("t"u8);
            w.WriteRawValue(rawT, skipInputValidation: true);
        }

        return End(w);
    }
}
