using System.Text;

namespace Parley.Cli;

/// <summary>
/// Makes text from other users safe to print on a terminal. Message bodies may hold any character but NUL: raw, an
/// escape sequence could clear the screen, retitle the window, write the clipboard (OSC 52), or a carriage return and
/// a forged "[12:00] admin:" prefix could pass for another user's message. Controls become visible placeholders, bidi
/// overrides are neutralized, and continuation lines are indented so they cannot pass for new messages.
/// </summary>
internal static class TerminalText
{
    /// <summary>What stands for a control character.</summary>
    public const char Placeholder = '\uFFFD';

    /// <summary>The indent of a message's continuation lines.</summary>
    public const string Continuation = "\n    ";

    /// <summary>Returns <paramref name="text"/> with every terminal control neutralized.</summary>
    public static string Safe(string text)
    {
        var safe = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            var v = rune.Value;
            if (v == '\n')
            {
                safe.Append(Continuation);
            }
            else if (v == '\t')
            {
                safe.Append(' ');
            }
            else if (Rune.IsControl(rune) || v is >= 0x202A and <= 0x202E or >= 0x2066 and <= 0x2069 || v is 0x2028 or 0x2029)
            {
                // C0, DEL and C1 (CSI 0x9B included), bidi embeddings, overrides and isolates, line and paragraph separators.
                safe.Append(Placeholder);
            }
            else
            {
                safe.Append(rune.ToString());
            }
        }

        return safe.ToString();
    }
}
