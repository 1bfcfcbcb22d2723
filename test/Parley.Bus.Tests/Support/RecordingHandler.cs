using Parley.Testing;

namespace Parley.Bus.Tests.Support;

/// <summary>An <see cref="IBusHandler"/> that records everything and notices concurrent calls.</summary>
public sealed class RecordingHandler : IBusHandler
{
    private readonly List<(BusTopic Topic, BusEvent Event)> _events = [];
    private int _inside;
    private int _overlaps;
    private int _resumed;

    /// <summary>Events for which <see cref="OnEvent"/> throws instead of recording (to test that a bus survives it).</summary>
    public Func<BusEvent, bool>? ThrowOn { get; init; }

    /// <summary>How many times the handler was entered while another call was still inside it.</summary>
    public int Overlaps => Volatile.Read(ref _overlaps);

    /// <summary>How many times <see cref="OnResumed"/> was called.</summary>
    public int Resumed => Volatile.Read(ref _resumed);

    /// <summary>Everything received so far, in arrival order.</summary>
    public IReadOnlyList<(BusTopic Topic, BusEvent Event)> All
    {
        get
        {
            lock (_events)
            {
                return [.. _events];
            }
        }
    }

    /// <summary>The events received on one topic, in arrival order.</summary>
    public IReadOnlyList<BusEvent> On(BusTopic topic)
    {
        lock (_events)
        {
            return [.. _events.Where(e => e.Topic == topic).Select(e => e.Event)];
        }
    }

    /// <summary>How many events arrived on one topic.</summary>
    public int CountOn(BusTopic topic)
    {
        lock (_events)
        {
            return _events.Count(e => e.Topic == topic);
        }
    }

    /// <inheritdoc />
    public void OnEvent(BusTopic topic, BusEvent evt)
    {
        Enter();
        try
        {
            if (ThrowOn?.Invoke(evt) == true)
            {
                throw new InvalidOperationException($"handler refuses seq {evt.Seq}");
            }

            lock (_events)
            {
                _events.Add((topic, evt));
            }
        }
        finally
        {
            Leave();
        }
    }

    /// <inheritdoc />
    public void OnResumed()
    {
        Enter();
        Interlocked.Increment(ref _resumed);
        Leave();
    }

    /// <summary>Waits until <paramref name="count"/> events arrived on <paramref name="topic"/>.</summary>
    public Task WaitForAsync(BusTopic topic, int count, TimeSpan? timeout = null) =>
        Eventually.TrueAsync(() => CountOn(topic) >= count, timeout ?? TimeSpan.FromSeconds(15), $"{count} events on {topic} (have {CountOn(topic)})");

    private void Enter()
    {
        if (Interlocked.Increment(ref _inside) > 1)
        {
            Interlocked.Increment(ref _overlaps);
        }
    }

    private void Leave() => Interlocked.Decrement(ref _inside);
}
