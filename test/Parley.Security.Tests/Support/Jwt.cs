using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Parley.Security.Tests.Support;

/// <summary>Builds JWTs by hand, byte by byte, so a test can get every part wrong on purpose.</summary>
public static class Jwt
{
    /// <summary>The claims of a token Parley would accept, for <paramref name="now"/>.</summary>
    public static Dictionary<string, object?> ValidClaims(string userId, string username, DateTimeOffset now, TimeSpan? lifetime = null) => new()
    {
        ["iss"] = "parley",
        ["aud"] = "parley-chat",
        ["sub"] = userId,
        ["name"] = username,
        ["iat"] = now.ToUnixTimeSeconds(),
        ["nbf"] = now.ToUnixTimeSeconds(),
        ["exp"] = (now + (lifetime ?? TimeSpan.FromHours(1))).ToUnixTimeSeconds(),
    };

    /// <summary>A header naming <paramref name="alg"/>.</summary>
    public static Dictionary<string, object?> Header(string alg) => new() { ["alg"] = alg, ["typ"] = "JWT" };

    /// <summary>Encodes header and payload and signs them with HMAC (<paramref name="hmac"/>: SHA256, SHA384 or SHA512); no key means an empty signature.</summary>
    public static string Sign(IDictionary<string, object?> header, IDictionary<string, object?> payload, byte[]? key, string hmac = "SHA256")
    {
        var signingInput = Encode(header) + "." + Encode(payload);
        if (key is null)
        {
            return signingInput + ".";
        }

        var data = Encoding.ASCII.GetBytes(signingInput);
        var signature = hmac switch
        {
            "SHA256" => HMACSHA256.HashData(key, data),
            "SHA384" => HMACSHA384.HashData(key, data),
            "SHA512" => HMACSHA512.HashData(key, data),
            _ => throw new ArgumentOutOfRangeException(nameof(hmac)),
        };
        return signingInput + "." + Base64Url.EncodeToString(signature);
    }

    /// <summary>base64url of the UTF-8 JSON of <paramref name="part"/>.</summary>
    public static string Encode(IDictionary<string, object?> part) => Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(part));

    /// <summary>The decoded payload of a token.</summary>
    public static JsonElement Payload(string token) => JsonDocument.Parse(Base64Url.DecodeFromChars(token.Split('.')[1])).RootElement.Clone();

    /// <summary>Replaces the payload of a signed token, keeping its header and signature (a tampered token).</summary>
    public static string WithPayload(string token, IDictionary<string, object?> payload)
    {
        var parts = token.Split('.');
        return parts[0] + "." + Encode(payload) + "." + parts[2];
    }

    /// <summary>Replaces the header of a signed token, keeping its payload and signature.</summary>
    public static string WithHeader(string token, IDictionary<string, object?> header)
    {
        var parts = token.Split('.');
        return Encode(header) + "." + parts[1] + "." + parts[2];
    }
}
