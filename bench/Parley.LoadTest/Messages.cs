using System.Text.Json;
using Parley.LoadTest.Wire;

namespace Parley.LoadTest;

/// <summary>Commands from the orchestrator to a worker process (one JSON object per stdin line) and their answers.</summary>
public sealed class WorkerCommand
{
    public string Cmd { get; set; } = "";

    public string Target { get; set; } = "";

    public List<ClientSpec> Clients { get; set; } = [];

    public List<string> LocalAddresses { get; set; } = [];

    /// <summary>Connect: most connects in flight at once (ramp mode).</summary>
    public int Concurrency { get; set; } = 64;

    /// <summary>Storm mode: connects scheduled from this Stopwatch timestamp, spread over <see cref="WindowMs"/>.</summary>
    public long StartAt { get; set; }

    public int WindowMs { get; set; }

    /// <summary>Chat messages a reconnecting client must receive before ready for it to count as resumed.</summary>
    public int ExpectBacklog { get; set; }

    public List<SendSpec> Sends { get; set; } = [];

    public double Rate { get; set; }

    public int WarmupMs { get; set; }

    public int DurationMs { get; set; }

    public int GraceMs { get; set; }

    public int BodyBytes { get; set; } = 100;

    /// <summary>Load: count only copies delivered to others (direct), not a sender's own echo.</summary>
    public bool SkipOwn { get; set; }
}

/// <summary>A sender and its destination: a Parley conversation id, a peer room, or (direct) a peer user id.</summary>
public sealed class SendSpec
{
    public int Client { get; set; }

    public string Dest { get; set; } = "";

    public bool Direct { get; set; }
}

/// <summary>A worker's answer.</summary>
public sealed class WorkerReply
{
    public int Connected { get; set; }

    public int Failed { get; set; }

    public int WithBacklog { get; set; }

    public long Offered { get; set; }

    public long Sent { get; set; }

    public long SendFailures { get; set; }

    public long Acked { get; set; }

    public long Delivered { get; set; }

    public long Errors { get; set; }

    public List<string> ErrorSamples { get; set; } = [];

    public HistogramData? ConnectLatency { get; set; }

    public HistogramData? AckLatency { get; set; }

    public HistogramData? DeliveryLatency { get; set; }
}

public static class Json
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = false,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static readonly JsonSerializerOptions Indented = new(Options) { WriteIndented = true };
}
