using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Parley.Server.Auth;

/// <summary>
/// PBKDF2-HMAC-SHA256 password hashes, stored as <c>pbkdf2-sha256$iterations$salt$hash</c> (base64), so the cost can
/// be raised later without breaking existing hashes. Hashing runs with bounded concurrency, so a login flood queues
/// here instead of starving chat traffic of CPU.
/// </summary>
public sealed class PasswordHasher : IDisposable
{
    /// <summary>The iteration count OWASP recommends for PBKDF2-HMAC-SHA256 (2023); the default.</summary>
    public const int RecommendedIterations = 600_000;

    private const string Scheme = "pbkdf2-sha256";
    private const int SaltBytes = 16, HashBytes = 32;

    private readonly int _iterations;
    private readonly SemaphoreSlim _slots;
    private readonly int _maxQueued;
    private int _queued;
    private long _computed;

    /// <summary>Creates a hasher that hashes new passwords with <paramref name="iterations"/> rounds.</summary>
    public PasswordHasher(int iterations, int maxConcurrent, int maxQueued = 256)
    {
        _iterations = Math.Max(1_000, iterations);
        _slots = new SemaphoreSlim(Math.Max(1, maxConcurrent));
        _maxQueued = maxQueued;
        // A hash of a random password with the current cost, verified against when the user does not exist, so
        // "no such user" takes as long as "wrong password".
        DummyHash = HashCore(Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)), _iterations);
    }

    /// <summary>A valid hash of an unknown password, for equal-time refusals.</summary>
    public string DummyHash { get; }

    /// <summary>Hashes and verifications started since the hasher was created (the dummy hash at construction not counted).</summary>
    public long Computed => Interlocked.Read(ref _computed);

    /// <summary>Hashes a password. Throws <see cref="ParleyException"/> (rate_limited) when too many hashes are queued.</summary>
    public Task<string> HashAsync(string password) => RunBoundedAsync(() => HashCore(password, _iterations));

    /// <summary>True when <paramref name="password"/> matches <paramref name="stored"/>.</summary>
    public Task<bool> VerifyAsync(string password, string stored) => RunBoundedAsync(() => VerifyCore(password, stored));

    private async Task<T> RunBoundedAsync<T>(Func<T> work)
    {
        if (Interlocked.Increment(ref _queued) > _maxQueued)
        {
            Interlocked.Decrement(ref _queued);
            throw new ParleyException(Protocol.ErrorCodes.RateLimited, "too many logins in progress; retry later");
        }

        try
        {
            await _slots.WaitAsync();
            try
            {
                Interlocked.Increment(ref _computed);
                return await Task.Run(work);
            }
            finally
            {
                _slots.Release();
            }
        }
        finally
        {
            Interlocked.Decrement(ref _queued);
        }
    }

    private static string HashCore(string password, int iterations)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, HashBytes);
        return string.Join('$', Scheme, iterations.ToString(CultureInfo.InvariantCulture), Convert.ToBase64String(salt), Convert.ToBase64String(hash));
    }

    private static bool VerifyCore(string password, string stored)
    {
        var parts = stored.Split('$');
        if (parts.Length != 4 || parts[0] != Scheme || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var iterations) || iterations < 1)
        {
            return false;
        }

        byte[] salt, expected;
        try
        {
            salt = Convert.FromBase64String(parts[2]);
            expected = Convert.FromBase64String(parts[3]);
        }
        catch (FormatException)
        {
            return false;
        }

        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    /// <inheritdoc />
    public void Dispose() => _slots.Dispose();
}
