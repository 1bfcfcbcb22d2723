using System.Security.Cryptography;
using System.Text;

namespace Parley.Server.Hosting;

/// <summary>Where the JWT signing key comes from: configuration, or (single node only) a key file in the data folder.</summary>
internal static class JwtKeys
{
    public const int MinKeyLength = 32;

    public static byte[] Resolve(ServerSettings settings)
    {
        if (!string.IsNullOrEmpty(settings.JwtKey))
        {
            var configured = Encoding.UTF8.GetBytes(settings.JwtKey);
            return configured.Length >= MinKeyLength
                ? configured
                : throw new InvalidOperationException($"Parley:JwtKey must be at least {MinKeyLength} bytes of UTF-8");
        }

        if (settings.IsCluster)
        {
            // Every node of a cluster must validate every other node's tokens: a per-node random key would not.
            throw new InvalidOperationException($"Parley:JwtKey (at least {MinKeyLength} bytes of UTF-8, shared by every node) is required in cluster mode");
        }

        var folder = Path.GetDirectoryName(Path.GetFullPath(settings.SqlitePath)) ?? ".";
        Directory.CreateDirectory(folder);
        var file = Path.Combine(folder, "jwt.key");
        if (File.Exists(file))
        {
            var existing = Convert.FromBase64String(File.ReadAllText(file).Trim());
            if (existing.Length >= MinKeyLength)
            {
                return existing;
            }
        }

        var key = RandomNumberGenerator.GetBytes(64);
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(file, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(Convert.ToBase64String(key));
        }

        return key;
    }
}
