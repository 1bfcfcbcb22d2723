using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using RabbitMQ.Client;

namespace Parley.Bus.RabbitMq.Internal;

/// <summary>
/// The wire format between nodes: the body is the event's frame, byte for byte; AMQP properties carry the rest
/// (<c>Type</c> = kind number, <c>AppId</c> = origin node, headers <c>conv</c>, <c>seq</c>, <c>subject</c>).
/// </summary>
internal static class BusWire
{
    internal const string ConvHeader = "conv";
    internal const string SeqHeader = "seq";
    internal const string SubjectHeader = "subject";

    // Strict decoding: a header that is not valid UTF-8 makes the message malformed instead of silently altered.
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static readonly string[] KindNames =
        Enumerable.Range(0, 16).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();

    /// <summary>Refuses topic ids that would make a binding key a wildcard or overflow a routing key.</summary>
    internal static void ThrowIfUnbindable(BusTopic topic)
    {
        if (string.IsNullOrEmpty(topic.Id) || topic.Id.Length > 200 || topic.Id.AsSpan().IndexOfAny('*', '#') >= 0)
        {
            throw new ArgumentException($"'{topic.Id}' is not a valid topic id.", nameof(topic));
        }
    }

    /// <summary>The AMQP properties of an outgoing event: transient, since the bus is a hint and the store the record.</summary>
    internal static BasicProperties CreateProperties(BusEvent evt)
    {
        var kind = (int)evt.Kind;
        return new BasicProperties
        {
            Type = (uint)kind < (uint)KindNames.Length ? KindNames[kind] : kind.ToString(CultureInfo.InvariantCulture),
            AppId = evt.Origin,
            DeliveryMode = DeliveryModes.Transient,
            Headers = new Dictionary<string, object?>(3)
            {
                [ConvHeader] = evt.Conv,
                [SeqHeader] = evt.Seq,
                [SubjectHeader] = evt.Subject,
            },
        };
    }

    /// <summary>Rebuilds an event from a delivery; false with the reason when the message is not one of ours.</summary>
    internal static bool TryRead(
        string routingKey,
        IReadOnlyBasicProperties properties,
        ReadOnlyMemory<byte> body,
        out BusTopic topic,
        [NotNullWhen(true)] out BusEvent? evt,
        out string problem)
    {
        evt = null;
        if (!BusTopic.TryParse(routingKey, out topic))
        {
            problem = "routing key is not a bus topic";
            return false;
        }

        if (!int.TryParse(properties.Type, NumberStyles.None, CultureInfo.InvariantCulture, out var kindNumber) ||
            !Enum.IsDefined((BusEventKind)kindNumber))
        {
            problem = $"unknown event type '{properties.Type}'";
            return false;
        }

        if (string.IsNullOrEmpty(properties.AppId))
        {
            problem = "no origin (app id)";
            return false;
        }

        var headers = properties.Headers;
        if (headers is null ||
            !TryGetString(headers, ConvHeader, out var conv) ||
            !TryGetString(headers, SubjectHeader, out var subject) ||
            !TryGetSeq(headers, out var seq))
        {
            problem = "missing or malformed conv/seq/subject header";
            return false;
        }

        // The client reuses the delivery buffer once the callback returns, so the frame is copied.
        evt = new BusEvent((BusEventKind)kindNumber, conv, seq, subject, properties.AppId, body.ToArray());
        problem = "";
        return true;
    }

    private static bool TryGetString(IDictionary<string, object?> headers, string name, [NotNullWhen(true)] out string? value)
    {
        value = null;
        if (!headers.TryGetValue(name, out var raw))
        {
            return false;
        }

        switch (raw)
        {
            case byte[] bytes:
                try
                {
                    value = StrictUtf8.GetString(bytes);
                    return true;
                }
                catch (DecoderFallbackException)
                {
                    return false;
                }

            case string s:
                value = s;
                return true;
            default:
                return false;
        }
    }

    private static bool TryGetSeq(IDictionary<string, object?> headers, out long seq)
    {
        headers.TryGetValue(SeqHeader, out var raw);
        seq = raw switch
        {
            long l => l,
            int i => i,
            uint u => u,
            short s => s,
            ushort us => us,
            byte b => b,
            sbyte sb => sb,
            _ => -1,
        };
        return seq >= 0;
    }
}
