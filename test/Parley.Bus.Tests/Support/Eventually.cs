using System.Diagnostics;

namespace Parley.Bus.Tests.Support;

/// <summary>Polling waits that always end: a condition either holds within its timeout or the test fails.</summary>
public static class Eventually
{
    /// <summary>Waits until <paramref name="condition"/> holds; throws a <see cref="TimeoutException"/> naming <paramref name="what"/> otherwise.</summary>
    public static async Task TrueAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds} s waiting for {what}.");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>Waits until the asynchronous <paramref name="condition"/> holds, checking every <paramref name="every"/>.</summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan timeout, TimeSpan every, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds} s waiting for {what}.");
            }

            await Task.Delay(every);
        }
    }
}
