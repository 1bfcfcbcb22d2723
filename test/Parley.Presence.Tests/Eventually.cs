namespace Parley.Presence.Tests;

/// <summary>Polling for conditions that become true asynchronously, always with a deadline.</summary>
internal static class Eventually
{
    /// <summary>Polls <paramref name="condition"/> until it holds; fails with <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task HoldsAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        Exception? last = null;
        while (DateTime.UtcNow < deadline)
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

            await Task.Delay(50);
        }

        throw new TimeoutException($"not within {timeout.TotalMilliseconds:0} ms: {what}", last);
    }
}
