using System.Reactive.Concurrency;

namespace Asio2.Rx;

/// <summary>What kind of clock a scheduler is.</summary>
internal static class SchedulerKinds
{
    /// <summary>True for Rx's virtual-time schedulers (<c>TestScheduler</c>, <c>HistoricalScheduler</c>): nothing runs
    /// on them until their owner advances them, and they are not thread-safe.</summary>
    public static bool IsVirtualTime(IScheduler scheduler)
    {
        for (var t = scheduler.GetType(); t is not null; t = t.BaseType)
            if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(VirtualTimeSchedulerBase<,>)) return true;
        return false;
    }
}
