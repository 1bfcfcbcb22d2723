namespace Parley.Security.Tests.Support;

/// <summary>A clock the test sets: frozen at <see cref="Now"/> until moved. Timers still run on real time.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private long _ticks = start.UtcTicks;

    /// <summary>The time the clock shows.</summary>
    public DateTimeOffset Now
    {
        get => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);
        set => Interlocked.Exchange(ref _ticks, value.UtcTicks);
    }

    /// <summary>Moves the clock by <paramref name="by"/>.</summary>
    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);

    /// <inheritdoc />
    public override DateTimeOffset GetUtcNow() => Now;
}
