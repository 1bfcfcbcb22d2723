using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Parley.Server.Auth;

/// <summary>The claims Parley reads from a valid token.</summary>
public sealed record TokenIdentity(string UserId, string Username, DateTimeOffset ExpiresAt);

/// <summary>
/// Issues and validates HS256 JWTs (RFC 8725 practice): the algorithm is pinned, issuer, audience, lifetime and
/// signature are all checked, with at most 30 s of clock skew.
/// </summary>
public sealed class TokenService
{
    /// <summary>Issuer and audience of Parley tokens.</summary>
    public const string Issuer = "parley", Audience = "parley-chat";

    private static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(30);

    // No nbf on issued tokens (SetDefaultTimesOnTokenCreation off, NotBefore unset): a token is issued on one node and
    // presented to any other, and a peer whose clock runs behind the issuer's must still accept a fresh one (the fault
    // campaign's ±60 s clock-skew scenario). A token that does carry nbf is still held to the 30 s skew.
    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false, SetDefaultTimesOnTokenCreation = false };
    private readonly SigningCredentials _credentials;
    private readonly TokenValidationParameters _validation;
    private readonly TimeSpan _lifetime;
    private readonly TimeProvider _clock;
    private readonly ValidatedTokens _validated = new();

    /// <summary>Creates the service with a signing key of at least 32 bytes.</summary>
    public TokenService(byte[] key, TimeSpan lifetime, TimeProvider clock)
    {
        if (key.Length < 32)
        {
            throw new ArgumentException("the JWT signing key must be at least 32 bytes", nameof(key));
        }

        var securityKey = new SymmetricSecurityKey(key);
        _credentials = new SigningCredentials(securityKey, SecurityAlgorithms.HmacSha256);
        _lifetime = lifetime;
        _clock = clock;
        _validation = new TokenValidationParameters
        {
            ValidIssuer = Issuer,
            ValidAudience = Audience,
            IssuerSigningKey = securityKey,
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
            ValidateIssuer = true,
            ValidateAudience = true,
            ValidateLifetime = true,
            ValidateIssuerSigningKey = true,
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ClockSkew = ClockSkew,
            LifetimeValidator = ValidateLifetime,
        };
    }

    /// <summary>Issues a token for a user; returns it with its expiry.</summary>
    public (string Token, DateTimeOffset ExpiresAt) Issue(string userId, string username)
    {
        var now = _clock.GetUtcNow();
        var expires = now + _lifetime;
        var token = _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            IssuedAt = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            Claims = new Dictionary<string, object> { ["sub"] = userId, ["name"] = username },
            SigningCredentials = _credentials,
        });
        return (token, DateTimeOffset.FromUnixTimeSeconds(expires.ToUnixTimeSeconds()));
    }

    /// <summary>
    /// The identity in a valid token, or null for anything else (bad signature, algorithm, claims, lifetime). A token
    /// this node has validated before skips all but the lifetime check, which every use repeats against the clock.
    /// </summary>
    public async Task<TokenIdentity?> ValidateAsync(string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 4096)
        {
            return null;
        }

        var digest = ValidatedTokens.DigestOf(token);
        if (_validated.TryGet(digest, out var known))
        {
            return InLifetime(known.NotBefore, known.Identity.ExpiresAt.UtcDateTime) ? known.Identity : null;
        }

        TokenValidationResult result;
        try
        {
            result = await _handler.ValidateTokenAsync(token, _validation);
        }
        catch (ArgumentException)
        {
            return null;
        }

        if (!result.IsValid || result.SecurityToken is not JsonWebToken jwt)
        {
            return null;
        }

        var sub = jwt.Subject;
        var name = result.ClaimsIdentity.FindFirst("name")?.Value;
        if (!Protocol.ProtocolRules.IsValidId(sub) || string.IsNullOrEmpty(name))
        {
            return null;
        }

        var identity = new TokenIdentity(sub, name, new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero));
        _validated.Add(digest, new ValidatedTokens.Entry(identity, jwt.ValidFrom == DateTime.MinValue ? null : jwt.ValidFrom));
        return identity;
    }

    /// <summary>How long until <paramref name="identity"/>'s token expires, by this service's clock (negative once past).</summary>
    public TimeSpan TimeLeft(TokenIdentity identity) => identity.ExpiresAt - _clock.GetUtcNow();

    // Lifetime against the injected clock (tests move it), with the pinned skew.
    private bool ValidateLifetime(DateTime? notBefore, DateTime? expires, SecurityToken token, TokenValidationParameters p) =>
        InLifetime(notBefore, expires);

    private bool InLifetime(DateTime? notBefore, DateTime? expires)
    {
        var now = _clock.GetUtcNow().UtcDateTime;
        if (expires is null || now > expires.Value.ToUniversalTime() + ClockSkew)
        {
            return false;
        }

        return notBefore is null || now + ClockSkew >= notBefore.Value.ToUniversalTime();
    }
}
