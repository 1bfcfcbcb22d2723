using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Parley.Server.Auth;

/// <summary>
/// Tokens this node has already found valid, so a client that reconnects or calls the REST API again with the same
/// token skips the signature, header and claim checks (a reconnect storm is thousands of hellos with tokens the node
/// has seen minutes before). Guarantees:
/// <list type="bullet">
/// <item>An entry is added only after the full validation of that exact token succeeded; it is found only by a token
/// with the same SHA-256 digest, so a token that differs in any character is validated in full.</item>
/// <item>An entry never stands in for the time checks: the caller checks expiry and not-before on every use, against
/// its own clock.</item>
/// <item>Memory is bounded: at most two generations of <see cref="GenerationSize"/> entries (about 100 bytes each, the
/// identity shared with the connections that hold it); when the newer fills it becomes the older and the older is
/// dropped, and a hit in the older moves into the newer.</item>
/// </list>
/// </summary>
internal sealed class ValidatedTokens
{
    /// <summary>Entries per generation.</summary>
    public const int GenerationSize = 65_536;

    private readonly Lock _rotate = new();
    private ConcurrentDictionary<Digest, Entry> _newer = new();
    private ConcurrentDictionary<Digest, Entry> _older = new();
    private int _added;

    /// <summary>A token's identity and the not-before time it carried, if any.</summary>
    public sealed record Entry(TokenIdentity Identity, DateTime? NotBefore);

    /// <summary>The digest that names <paramref name="token"/> in the cache.</summary>
    public static Digest DigestOf(string token)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(MemoryMarshal.AsBytes(token.AsSpan()), hash);
        return MemoryMarshal.Read<Digest>(hash);
    }

    /// <summary>The entry of a token found valid before, if it is still remembered.</summary>
    public bool TryGet(Digest digest, out Entry entry)
    {
        if (_newer.TryGetValue(digest, out entry!))
        {
            return true;
        }

        if (!_older.TryGetValue(digest, out entry!))
        {
            return false;
        }

        Add(digest, entry);
        return true;
    }

    /// <summary>Remembers a token that has just passed the full validation.</summary>
    public void Add(Digest digest, Entry entry)
    {
        if (!_newer.TryAdd(digest, entry) || Interlocked.Increment(ref _added) < GenerationSize)
        {
            return;
        }

        lock (_rotate)
        {
            if (Volatile.Read(ref _added) < GenerationSize)
            {
                return;
            }

            _older = _newer;
            _newer = new ConcurrentDictionary<Digest, Entry>();
            Volatile.Write(ref _added, 0);
        }
    }

    /// <summary>A SHA-256 digest as a value (32 bytes, compared by value).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public readonly record struct Digest(ulong A, ulong B, ulong C, ulong D);
}
