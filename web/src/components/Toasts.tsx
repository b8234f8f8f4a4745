import { useToasts } from "../stores/toasts";

export function Toasts() {
  const toasts = useToasts((s) => s.toasts);
  const dismiss = useToasts((s) => s.dismiss);
  return (
    <div className="fixed right-3 bottom-3 z-50 flex w-80 flex-col gap-2" aria-live="polite" role="region" aria-label="Notifications">
      {toasts.map((t) => (
        <div key={t.id} role={t.kind === "error" ? "alert" : "status"} data-kind={t.kind}
          className={`panel flex items-start gap-2 px-3 py-2 shadow-lg ${t.kind === "error" ? "border-down" : t.kind === "success" ? "border-up" : ""}`}>
          <span className="flex-1 text-xs">{t.text}</span>
          <button type="button" className="text-muted hover:text-white" aria-label="Dismiss notification" onClick={() => dismiss(t.id)}>×</button>
        </div>
      ))}
    </div>
  );
}
