using System.Security.Cryptography;

namespace Parley;

/// <summary>Random opaque ids from [A-Za-z0-9_-], as protocol v1 requires.</summary>
public static class Ids
{
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

    /// <summary>A new id: <paramref name="prefix"/> followed by <paramref name="randomChars"/> random characters (6 bits each).</summary>
    public static string New(string prefix, int randomChars = 16)
    {
        Span<byte> bytes = stackalloc byte[randomChars];
        RandomNumberGenerator.Fill(bytes);
        return string.Create(prefix.Length + randomChars, (prefix, bytes.ToArray()), static (span, state) =>
        {
            state.prefix.AsSpan().CopyTo(span);
            for (var i = 0; i < state.Item2.Length; i++)
            {
                span[state.prefix.Length + i] = Alphabet[state.Item2[i] & 63];
            }
        });
    }
}
