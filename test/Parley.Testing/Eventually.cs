using System.Diagnostics;

namespace Parley.Testing;

/// <summary>
/// Polling waits that always end: the condition holds within the timeout, or the wait throws a
/// <see cref="TimeoutException"/> that says what was awaited. Every test project waits through this one class.
/// </summary>
public static class Eventually
{
    private static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(20);

    /// <summary>Waits until <paramref name="condition"/> holds; throws naming <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static Task TrueAsync(Func<bool> condition, TimeSpan timeout, string what) => TrueAsync(condition, timeout, () => what);

    /// <summary>
    /// Waits until <paramref name="condition"/> holds; after <paramref name="timeout"/> throws with <paramref name="what"/>,
    /// computed then (so it can describe the state the wait gave up in).
    /// </summary>
    public static async Task TrueAsync(Func<bool> condition, TimeSpan timeout, Func<string> what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"not within {timeout.TotalSeconds:0.###} s: {what()}");
            }

            await Task.Delay(DefaultInterval);
        }
    }

    /// <summary>
    /// Waits until the asynchronous <paramref name="condition"/> holds, checking every <paramref name="every"/> (20 ms by
    /// default). A check that throws counts as "not yet" (a backend coming back refuses calls for a while); the last such
    /// exception becomes the inner exception of the timeout.
    /// </summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, TimeSpan? every = null)
    {
        var clock = Stopwatch.StartNew();
        Exception? last = null;
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return;
                }

                last = null;
            }
            catch (Exception e)
            {
                last = e;
            }

            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"not within {timeout.TotalSeconds:0.###} s: {what}", last);
            }

            await Task.Delay(every ?? DefaultInterval);
        }
    }
}
