namespace Parley.LoadTest;

/// <summary>Client counts, rates and durations of one run: the full run, or a few-second smoke run.</summary>
public sealed record Sizes
{
    public int Workers { get; init; } = 4;

    public int IdleConnections { get; init; } = 15_000;

    public int IdleHoldMs { get; init; } = 30_000;

    public int FanoutSmallRooms { get; init; } = 10;

    public int FanoutSmallSize { get; init; } = 100;

    public int FanoutLargeRooms { get; init; } = 2;

    public int FanoutLargeSize { get; init; } = 1_000;

    /// <summary>Offered deliveries per second in both fan-out scenarios (messages/s × room size).</summary>
    public double FanoutDeliveriesPerSecond { get; init; } = 20_000;

    /// <summary>
    /// Load before the measured window: servers are measured warm (a just-started .NET or Node.js process compiles its
    /// hot paths during its first seconds under load, and that is not what a long-running server costs).
    /// </summary>
    public int FanoutWarmupMs { get; init; } = 10_000;

    public int FanoutDurationMs { get; init; } = 20_000;

    /// <summary>How long the machine's send floor is measured (one thread sending at the fan-out's delivery rate).</summary>
    public int SendFloorMs { get; init; } = 5_000;

    public int DirectPairs { get; init; } = 1_000;

    /// <summary>Offered rates, climbed until one is not sustained; finer where durable targets top out.</summary>
    public double[] DirectSteps { get; init; } = [500, 1_000, 2_000, 3_000, 4_000, 5_000, 10_000, 15_000, 20_000, 25_000];

    public int DirectStepMs { get; init; } = 5_000;

    /// <summary>Unmeasured load at the first step's rate before the steps (see <see cref="FanoutWarmupMs"/>).</summary>
    public int DirectWarmupMs { get; init; } = 10_000;

    public int DirectLatencyMs { get; init; } = 20_000;

    public int StormClients { get; init; } = 10_000;

    public int StormRoomSize { get; init; } = 100;

    /// <summary>Reconnects are spread over this window (the clients' reconnect jitter).</summary>
    public int StormWindowMs { get; init; } = 1_000;

    /// <summary>Pause after the storm's warm-up round (a tenth of the clients reconnecting) before everyone drops.</summary>
    public int StormSettleMs { get; init; } = 3_000;

    public int GraceMs { get; init; } = 2_000;

    public int LocalAddresses { get; init; } = 60;

    public static Sizes Full => new();

    public static Sizes Smoke => new()
    {
        Workers = 2,
        IdleConnections = 40,
        IdleHoldMs = 1_000,
        FanoutSmallRooms = 2,
        FanoutSmallSize = 5,
        FanoutLargeRooms = 1,
        FanoutLargeSize = 20,
        FanoutDeliveriesPerSecond = 400,
        FanoutWarmupMs = 300,
        FanoutDurationMs = 1_000,
        SendFloorMs = 300,
        DirectPairs = 4,
        DirectSteps = [50, 100],
        DirectStepMs = 1_000,
        DirectWarmupMs = 500,
        DirectLatencyMs = 1_000,
        StormClients = 20,
        StormRoomSize = 10,
        StormWindowMs = 200,
        StormSettleMs = 200,
        GraceMs = 1_000,
        LocalAddresses = 4,
    };
}
