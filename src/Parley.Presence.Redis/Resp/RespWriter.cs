using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace Parley.Presence.Redis.Resp;

/// <summary>Encodes commands as RESP2 arrays of bulk strings, the only form Redis accepts from clients.</summary>
internal static class RespWriter
{
    public static void WriteCommand(IBufferWriter<byte> output, IReadOnlyList<string> args)
    {
        WriteHeader(output, (byte)'*', args.Count);
        foreach (var arg in args)
        {
            var length = Encoding.UTF8.GetByteCount(arg);
            WriteHeader(output, (byte)'$', length);
            var span = output.GetSpan(length + 2);
            Encoding.UTF8.GetBytes(arg, span);
            span[length] = (byte)'\r';
            span[length + 1] = (byte)'\n';
            output.Advance(length + 2);
        }
    }

    private static void WriteHeader(IBufferWriter<byte> output, byte prefix, int value)
    {
        var span = output.GetSpan(16);
        span[0] = prefix;
        Utf8Formatter.TryFormat(value, span[1..], out var digits);
        span[digits + 1] = (byte)'\r';
        span[digits + 2] = (byte)'\n';
        output.Advance(digits + 3);
    }
}
