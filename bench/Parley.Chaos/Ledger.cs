using System.Collections.Concurrent;
using System.Diagnostics;

namespace Parley.Chaos;

/// <summary>One send of the workload, from the call to its ack (or refusals).</summary>
public sealed class SendRecord(string conv, string clientMsgId, int sender, string body, double sentAt, bool senderConnected)
{
    public string Conv { get; } = conv;

    public string ClientMsgId { get; } = clientMsgId;

    public int Sender { get; } = sender;

    public string Body { get; } = body;

    /// <summary>Seconds since the run started, when the send was made.</summary>
    public double SentAt { get; } = sentAt;

    /// <summary>Whether the sender had a live connection when it sent (only those can be answered promptly).</summary>
    public bool SenderConnected { get; } = senderConnected;

    /// <summary>Unix milliseconds (true time) of the send.</summary>
    public long SentWallMs { get; } = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public double? AckAt { get; set; }

    public long? Seq { get; set; }

    public double? FirstRefusalAt { get; set; }

    public string? FirstRefusalCode { get; set; }

    /// <summary>The seq the server answered to a deliberate retry of the same clientMsgId (the ack-drop fault).</summary>
    public long? RetrySeq { get; set; }
}

/// <summary>Everything the workload sent, keyed by (conv, clientMsgId); the checker's record of intent.</summary>
public sealed class Ledger
{
    private readonly ConcurrentDictionary<(string Conv, string Cid), SendRecord> _sends = new();
    private readonly long _start = Stopwatch.GetTimestamp();

    /// <summary>Seconds since the run started.</summary>
    public double Now => Stopwatch.GetElapsedTime(_start).TotalSeconds;

    public IReadOnlyCollection<SendRecord> Sends => (IReadOnlyCollection<SendRecord>)_sends.Values;

    public void Add(SendRecord send) => _sends[(send.Conv, send.ClientMsgId)] = send;

    public SendRecord? Find(string conv, string? clientMsgId) =>
        clientMsgId is not null && _sends.TryGetValue((conv, clientMsgId), out var s) ? s : null;
}
