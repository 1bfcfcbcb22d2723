using System.Diagnostics;

namespace Parley.Security.Tests.Support;

/// <summary>Polling with a deadline: every wait in this suite ends.</summary>
public static class Wait
{
    /// <summary>Polls <paramref name="condition"/> until true; throws <see cref="TimeoutException"/> with <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task UntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"{what}: not within {timeout.TotalSeconds:0.#} s");
            }

            await Task.Delay(25);
        }
    }

    /// <summary>Polls an async condition until true, or throws after <paramref name="timeout"/>.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"{what}: not within {timeout.TotalSeconds:0.#} s");
            }

            await Task.Delay(50);
        }
    }
}
