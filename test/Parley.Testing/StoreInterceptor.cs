using System.Reflection;
using System.Runtime.ExceptionServices;

namespace Parley.Testing;

/// <summary>
/// A real <see cref="IChatStore"/> seen through a proxy: every call goes to the wrapped store unless
/// <see cref="Intercept"/> answers it first (to count calls, or to fail some). Not a stand-in: the store does the work.
/// </summary>
public class StoreInterceptor : DispatchProxy
{
    private IChatStore _inner = null!;

    /// <summary>Wraps <paramref name="inner"/>; returns the store to use and the interceptor to inspect.</summary>
    public static (IChatStore Store, TInterceptor Interceptor) Wrap<TInterceptor>(IChatStore inner)
        where TInterceptor : StoreInterceptor
    {
        var proxy = Create<IChatStore, TInterceptor>();
        var interceptor = (TInterceptor)(object)proxy;
        interceptor._inner = inner;
        return (proxy, interceptor);
    }

    /// <summary>Sees each call first; a non-null result is returned instead of calling the store.</summary>
    protected virtual object? Intercept(MethodInfo method, object?[]? args) => null;

    /// <inheritdoc />
    protected sealed override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        if (Intercept(targetMethod, args) is { } answer)
        {
            return answer;
        }

        try
        {
            return targetMethod.Invoke(_inner, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
    }
}
