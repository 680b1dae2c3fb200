// "Are you sure?" as an accessible dialog (window.confirm cannot be styled or tested well).
import { Dialog } from './Dialog';

interface Props {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  title: string;
  message: string;
  confirmLabel: string;
  onConfirm: () => void;
}

export function ConfirmDialog({ open, onOpenChange, title, message, confirmLabel, onConfirm }: Props) {
  return (
    <Dialog open={open} onOpenChange={onOpenChange} title={title} description={message}>
      <div className="actions">
        <button type="button" onClick={() => onOpenChange(false)} autoFocus>
          Keep it
        </button>
        <button
          type="button"
          className="danger"
          onClick={() => {
            onOpenChange(false);
            onConfirm();
          }}
        >
          {confirmLabel}
        </button>
      </div>
    </Dialog>
  );
}
