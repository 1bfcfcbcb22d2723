using System.Text;

namespace Parley.Protocol;

/// <summary>The input rules of protocol v1. Every id, name and body a client sends goes through one of these.</summary>
public static class ProtocolRules
{
    /// <summary>Largest seq value: 2^53 - 1, the largest integer every JSON client represents exactly.</summary>
    public const long MaxSeq = (1L << 53) - 1;

    /// <summary>Longest id and clientMsgId.</summary>
    public const int MaxIdLength = 64;

    /// <summary>Longest message body, in Unicode scalar values.</summary>
    public const int MaxBodyScalars = 4000;

    /// <summary>Largest WebSocket frame a client may send.</summary>
    public const int MaxFrameBytes = 64 * 1024;

    /// <summary>Longest room name, in characters after trimming.</summary>
    public const int MaxRoomNameLength = 64;

    /// <summary>Shortest and longest password, in characters.</summary>
    public const int MinPasswordLength = 8, MaxPasswordLength = 256;

    /// <summary>History page size bounds and default.</summary>
    public const int MaxHistoryLimit = 200, DefaultHistoryLimit = 50;

    /// <summary>True for an opaque id or clientMsgId: 1–64 characters of [A-Za-z0-9_-].</summary>
    public static bool IsValidId(string? value)
    {
        if (value is null || value.Length is 0 or > MaxIdLength)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Folds a username to lower case; null when it is not 3–32 characters of [A-Za-z0-9_.-].</summary>
    public static string? NormalizeUsername(string? value)
    {
        if (value is null || value.Length is < 3 or > 32)
        {
            return null;
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-'))
            {
                return null;
            }
        }

        return value.ToLowerInvariant();
    }

    /// <summary>
    /// True for a password of 8–256 characters (Unicode scalar values: an emoji counts once) with no unpaired surrogate:
    /// UTF-8, which the hash is taken over, cannot hold one, so two different such passwords would hash alike.
    /// </summary>
    public static bool IsValidPassword(string? value) =>
        value is not null && value.Length is >= MinPasswordLength and <= MaxPasswordLength * 2
        && Scalars(value) is >= MinPasswordLength and <= MaxPasswordLength && IsWellFormed(value);

    /// <summary>
    /// Trims a room name; null when empty, longer than 64 characters (Unicode scalar values: an emoji counts once), or
    /// holding control characters.
    /// </summary>
    public static string? NormalizeRoomName(string? value)
    {
        if (value is null)
        {
            return null;
        }

        var trimmed = value.Trim();
        if (trimmed.Length is 0 or > MaxRoomNameLength * 2 || !IsWellFormed(trimmed))
        {
            return null;
        }

        var scalars = 0;
        foreach (var rune in trimmed.EnumerateRunes())
        {
            if (Rune.IsControl(rune) || ++scalars > MaxRoomNameLength)
            {
                return null;
            }
        }

        return trimmed;
    }

    /// <summary>Checks a message body: null when valid, else the error code (invalid or too_large).</summary>
    public static string? CheckBody(string? body)
    {
        if (body is null || body.Length == 0 || !IsWellFormed(body))
        {
            return ErrorCodes.Invalid;
        }

        if (body.Length > MaxBodyScalars * 2)
        {
            return ErrorCodes.TooLarge;
        }

        var scalars = 0;
        foreach (var rune in body.EnumerateRunes())
        {
            if (rune.Value == 0)
            {
                return ErrorCodes.Invalid;
            }

            scalars++;
        }

        return scalars > MaxBodyScalars ? ErrorCodes.TooLarge : null;
    }

    // Unicode scalar values in a string (a lone surrogate counts as one).
    private static int Scalars(string value)
    {
        var count = 0;
        foreach (var _ in value.EnumerateRunes())
        {
            count++;
        }

        return count;
    }

    /// <summary>True for a seq in 0..2^53-1.</summary>
    public static bool IsValidSeq(long seq) => seq is >= 0 and <= MaxSeq;

    /// <summary>False when the string holds an unpaired surrogate (not representable as UTF-8).</summary>
    public static bool IsWellFormed(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= value.Length || !char.IsLowSurrogate(value[i + 1]))
                {
                    return false;
                }

                i++;
            }
            else if (char.IsLowSurrogate(c))
            {
                return false;
            }
        }

        return true;
    }
}
