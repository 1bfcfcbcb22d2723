using System.Security.Cryptography;

namespace Parley;

/// <summary>Random opaque ids from [A-Za-z0-9_-], as protocol v1 requires.</summary>
/// <remarks>
/// Every character comes from the operating system's cryptographic generator, so ids stay unguessable. The bytes are
/// drawn a block at a time into a per-thread buffer and each byte is used once: one generator call per few hundred ids
/// instead of one per id (that call was 2–3 % of a node's CPU when every message took an id of its own).
/// </remarks>
public static class Ids
{
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

    /// <summary>The longest random part drawn from the per-thread buffer; longer ones are drawn on their own.</summary>
    private const int BlockBytes = 4096;

    [ThreadStatic]
    private static RandomBlock? _block;

    /// <summary>A new id: <paramref name="prefix"/> followed by <paramref name="randomChars"/> random characters (6 bits each).</summary>
    public static string New(string prefix, int randomChars = 16)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentOutOfRangeException.ThrowIfNegative(randomChars);
        return string.Create(prefix.Length + randomChars, prefix, static (span, prefix) =>
        {
            prefix.AsSpan().CopyTo(span);
            var chars = span[prefix.Length..];
            if (chars.Length > BlockBytes)
            {
                var bytes = RandomNumberGenerator.GetBytes(chars.Length);
                Encode(bytes, chars);
                return;
            }

            Encode((_block ??= new RandomBlock()).Take(chars.Length), chars);
        });
    }

    private static void Encode(ReadOnlySpan<byte> bytes, Span<char> chars)
    {
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = Alphabet[bytes[i] & 63];
        }
    }

    /// <summary>One thread's unused generator output; taken bytes are never handed out again.</summary>
    private sealed class RandomBlock
    {
        private readonly byte[] _bytes = new byte[BlockBytes];
        private int _next = BlockBytes;

        public ReadOnlySpan<byte> Take(int count)
        {
            if (BlockBytes - _next < count)
            {
                RandomNumberGenerator.Fill(_bytes);
                _next = 0;
            }

            var taken = _bytes.AsSpan(_next, count);
            _next += count;
            return taken;
        }
    }
}
