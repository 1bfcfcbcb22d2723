using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Parley.Testing;

/// <summary>
/// What every node a test runs in its own process shares: the <c>Parley:*</c> command line (the product's defaults
/// except fast password hashing, a short drain, no presence grace and SQLite in a private folder, then the test's own
/// settings), the address Kestrel bound, and removing the private folder afterwards.
/// </summary>
public static class InProcessNode
{
    /// <summary>
    /// The <c>--Parley:key=value</c> arguments for <paramref name="settings"/> (keys without the prefix) over the test
    /// defaults; a null value removes a default, so the product's own applies. Unless the settings name a
    /// <c>SqlitePath</c>, the database goes in a new folder returned as <paramref name="ownedFolder"/>.
    /// </summary>
    public static List<string> ParleyArguments(IDictionary<string, string?>? settings, string folderPrefix, int drainSeconds, out string? ownedFolder)
    {
        var config = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["PasswordIterations"] = "1000",
            ["RegistrationsPerAddress"] = "0",
            ["HeartbeatMs"] = "10000",
            ["DrainSeconds"] = drainSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["PresenceOfflineGraceMs"] = "0",
        };
        ownedFolder = null;
        if (settings is null || !settings.ContainsKey("SqlitePath"))
        {
            ownedFolder = TestPorts.NewTempDir(folderPrefix);
            config["SqlitePath"] = Path.Combine(ownedFolder, "parley.db");
        }

        foreach (var (k, v) in settings ?? new Dictionary<string, string?>())
        {
            if (v is null)
            {
                config.Remove(k);
            }
            else
            {
                config[k] = v;
            }
        }

        return config.Select(kv => $"--Parley:{kv.Key}={kv.Value}").ToList();
    }

    /// <summary>The base address a started application listens on, with a trailing slash.</summary>
    public static Uri BaseUri(WebApplication app)
    {
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new Uri(address.EndsWith('/') ? address : address + "/");
    }

    /// <summary>Deletes a node's private folder, if it had one; a file still held open is left behind.</summary>
    public static void DeleteFolder(string? folder)
    {
        if (folder is null)
        {
            return;
        }

        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
