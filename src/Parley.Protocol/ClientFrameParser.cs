using System.Text;
using System.Text.Json;

namespace Parley.Protocol;

/// <summary>Parses and validates client frames. Never throws on any input.</summary>
public static class ClientFrameParser
{
    private const int MaxResumeEntries = 10_000;

    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 4, CommentHandling = JsonCommentHandling.Disallow };

    private sealed class Fields
    {
        public string? Op, Conv, ClientMsgId, Body, Token, PingT;
        public long? Seq;
        public Dictionary<string, long>? Resume;
        public bool SeqOutOfRange, BodyTooLarge;
        public string? TypeError;
    }

    /// <summary>Parses one UTF-8 JSON text frame.</summary>
    public static ClientFrameResult Parse(ReadOnlySpan<byte> utf8)
    {
        // Filled as the reader goes, so a frame that fails part-way is still answered with what was read before the
        // failure: its clientMsgId or its op, as the contract asks, and null only when neither had been read.
        var f = new Fields();
        try
        {
            ReadFields(utf8, f);
        }
        catch (JsonException)
        {
            return ClientFrameResult.Fail(ErrorCodes.Invalid, "malformed JSON: expected one JSON object", RefFor(f));
        }
        catch (InvalidOperationException)
        {
            return ClientFrameResult.Fail(ErrorCodes.Invalid, "malformed JSON string (invalid UTF-8 or UTF-16)", RefFor(f));
        }
        catch (DuplicateFieldException e)
        {
            return ClientFrameResult.Fail(ErrorCodes.Invalid, $"field '{e.Message}' appears twice", RefFor(f));
        }

        return Validate(f);
    }

    private static ClientFrameResult Validate(Fields f)
    {
        var op = f.Op;
        if (f.TypeError is not null)
        {
            return ClientFrameResult.Fail(ErrorCodes.Invalid, f.TypeError, RefFor(f));
        }

        switch (op)
        {
            case null:
                return ClientFrameResult.Fail(ErrorCodes.Invalid, "missing 'op'", null);
            case "hello":
                if (string.IsNullOrEmpty(f.Token))
                {
                    return ClientFrameResult.Fail(ErrorCodes.Unauthorized, "missing token", "hello");
                }

                if (f.SeqOutOfRange)
                {
                    return ClientFrameResult.Fail(ErrorCodes.Invalid, "resume seq out of range", "hello");
                }

                return ClientFrameResult.Ok(new ClientFrame { Op = ClientOp.Hello, Token = f.Token, Resume = f.Resume });
            case "send":
                {
                    var cid = f.ClientMsgId;
                    var sendRef = ProtocolRules.IsValidId(cid) ? cid : "send";
                    if (!ProtocolRules.IsValidId(cid))
                    {
                        return ClientFrameResult.Fail(ErrorCodes.Invalid, "clientMsgId must be 1-64 characters of [A-Za-z0-9_-]", sendRef);
                    }

                    if (!ProtocolRules.IsValidId(f.Conv))
                    {
                        return ClientFrameResult.Fail(ErrorCodes.Invalid, "conv must be a valid id", sendRef);
                    }

                    if (f.BodyTooLarge)
                    {
                        return ClientFrameResult.Fail(ErrorCodes.TooLarge, "body over 4000 characters", sendRef);
                    }

                    var bodyError = ProtocolRules.CheckBody(f.Body);
                    if (bodyError is not null)
                    {
                        return ClientFrameResult.Fail(
                            bodyError,
                            bodyError == ErrorCodes.TooLarge ? "body over 4000 characters" : "body must be 1-4000 characters without NUL",
                            sendRef);
                    }

                    return ClientFrameResult.Ok(new ClientFrame { Op = ClientOp.Send, Conv = f.Conv!, ClientMsgId = cid!, Body = f.Body! });
                }

            case "delivered":
            case "read":
                if (!ProtocolRules.IsValidId(f.Conv))
                {
                    return ClientFrameResult.Fail(ErrorCodes.Invalid, "conv must be a valid id", op);
                }

                if (f.Seq is null || f.SeqOutOfRange)
                {
                    return ClientFrameResult.Fail(ErrorCodes.Invalid, "seq must be an integer from 0 to 2^53-1", op);
                }

                return ClientFrameResult.Ok(new ClientFrame
                {
                    Op = op == "read" ? ClientOp.Read : ClientOp.Delivered,
                    Conv = f.Conv!,
                    Seq = f.Seq.Value,
                });
            case "typing":
                if (!ProtocolRules.IsValidId(f.Conv))
                {
                    return ClientFrameResult.Fail(ErrorCodes.Invalid, "conv must be a valid id", op);
                }

                return ClientFrameResult.Ok(new ClientFrame { Op = ClientOp.Typing, Conv = f.Conv! });
            case "ping":
                return ClientFrameResult.Ok(new ClientFrame { Op = ClientOp.Ping, PingT = f.PingT });
            default:
                return ClientFrameResult.Fail(ErrorCodes.Invalid, "unknown op", Truncate(op));
        }
    }

    /// <summary>
    /// What an error echoes from the fields read so far: a send's valid clientMsgId, otherwise its op (cut to 64
    /// characters), otherwise null.
    /// </summary>
    private static string? RefFor(Fields f) =>
        f.Op == "send" && ProtocolRules.IsValidId(f.ClientMsgId) ? f.ClientMsgId : f.Op is null ? null : Truncate(f.Op);

    // Never cut a surrogate pair in half: the echoed half would not be valid text (the writer turns it into U+FFFD).
    private static string Truncate(string s) => s.Length <= 64 ? s : s[..(char.IsHighSurrogate(s[63]) ? 63 : 64)];

    private sealed class DuplicateFieldException(string name) : Exception(name);

    private static void ReadFields(ReadOnlySpan<byte> utf8, Fields f)
    {
        var reader = new Utf8JsonReader(utf8, ReaderOptions);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException();
        }

        var seen = 0;
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                // Trailing content after the object is malformed.
                if (reader.Read())
                {
                    throw new JsonException();
                }

                return;
            }

            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                throw new JsonException();
            }

            var bit = PropertyBit(ref reader);
            if (bit != 0 && (seen & bit) != 0)
            {
                throw new DuplicateFieldException(reader.GetString() ?? "?");
            }

            seen |= bit;
            var name = bit;
            reader.Read();
            switch (name)
            {
                case 1: f.Op = ReadString(ref reader, f, "op"); break;
                case 2: f.Conv = ReadString(ref reader, f, "conv"); break;
                case 4: f.ClientMsgId = ReadString(ref reader, f, "clientMsgId"); break;
                case 8:
                    if (reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length > (ProtocolRules.MaxBodyScalars * 12) + 16)
                    {
                        f.BodyTooLarge = true;
                    }
                    else
                    {
                        f.Body = ReadString(ref reader, f, "body");
                    }

                    break;
                case 16: f.Seq = ReadSeq(ref reader, f, "seq"); break;
                case 32: f.Token = ReadString(ref reader, f, "token"); break;
                case 64: f.Resume = ReadResume(ref reader, f); break;
                case 128: f.PingT = ReadPingT(ref reader, f); break;
                default: reader.Skip(); break;
            }
        }

        throw new JsonException();
    }

    private static int PropertyBit(ref Utf8JsonReader reader)
    {
        if (reader.ValueTextEquals("op"u8)) return 1;
        if (reader.ValueTextEquals("conv"u8)) return 2;
        if (reader.ValueTextEquals("clientMsgId"u8)) return 4;
        if (reader.ValueTextEquals("body"u8)) return 8;
        if (reader.ValueTextEquals("seq"u8)) return 16;
        if (reader.ValueTextEquals("token"u8)) return 32;
        if (reader.ValueTextEquals("resume"u8)) return 64;
        if (reader.ValueTextEquals("t"u8)) return 128;
        return 0;
    }

    private static string? ReadString(ref Utf8JsonReader reader, Fields f, string field)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return reader.GetString();
        }

        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        f.TypeError ??= $"'{field}' must be a string";
        reader.Skip();
        return null;
    }

    private static long? ReadSeq(ref Utf8JsonReader reader, Fields f, string field)
    {
        if (reader.TokenType != JsonTokenType.Number)
        {
            f.TypeError ??= $"'{field}' must be an integer";
            reader.Skip();
            return null;
        }

        if (!reader.TryGetInt64(out var value) || !ProtocolRules.IsValidSeq(value))
        {
            f.SeqOutOfRange = true;
            return null;
        }

        return value;
    }

    private static Dictionary<string, long>? ReadResume(ref Utf8JsonReader reader, Fields f)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            f.TypeError ??= "'resume' must be an object of conversation id to seq";
            reader.Skip();
            return null;
        }

        var resume = new Dictionary<string, long>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var conv = reader.GetString() ?? "";
            reader.Read();
            var seq = ReadSeq(ref reader, f, "resume." + Truncate(conv));
            if (!ProtocolRules.IsValidId(conv))
            {
                f.TypeError ??= "'resume' keys must be conversation ids";
                continue;
            }

            if (seq is long s)
            {
                resume[conv] = s;
            }

            if (resume.Count > MaxResumeEntries)
            {
                f.TypeError ??= "'resume' has too many entries";
            }
        }

        return resume;
    }

    private static string? ReadPingT(ref Utf8JsonReader reader, Fields f)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Number when reader.ValueSpan.Length <= 32:
                return Encoding.UTF8.GetString(reader.ValueSpan);
            case JsonTokenType.Number:
                f.TypeError ??= "'t' is too long";
                return null;
            case JsonTokenType.String:
                {
                    var s = reader.GetString() ?? "";
                    if (s.Length > 64)
                    {
                        f.TypeError ??= "'t' is too long";
                        return null;
                    }

                    return JsonSerializer.Serialize(s, ProtocolJson.Default.String);
                }

            case JsonTokenType.Null:
                return null;
            default:
                f.TypeError ??= "'t' must be a number or a string";
                reader.Skip();
                return null;
        }
    }
}
