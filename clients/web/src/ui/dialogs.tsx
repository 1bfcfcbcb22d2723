import { createContext, useContext, useId, useLayoutEffect, useRef, useState, type FormEvent, type ReactNode, type SyntheticEvent } from 'react';
import { ApiError } from '../protocol';
import { useChatStore } from './useStore';

const CloseModal = createContext<() => void>(() => {});

/**
 * Closes the enclosing modal at once. The browser puts focus back on the opener right then, so whatever the caller
 * shows next (a new conversation's composer) can take focus after it.
 */
export function useCloseModal(): () => void {
  return useContext(CloseModal);
}

/**
 * A modal on the native <dialog>: focus is trapped inside, Escape closes it, focus returns to the opener.
 *
 * Escape is handled on the dialog's `cancel` event, which fires inside the key press, so the parent's state says
 * "closed" before the next key is handled. The native `close` event comes later, as a task of its own that the
 * browser may run after input queued behind it (an Enter on the opener reopening the dialog); by then the dialog
 * may be open again, and the late event is ignored.
 */
export function Modal({ open, title, onClose, children }: { open: boolean; title: string; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useLayoutEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    else if (!open && dialog.open) dialog.close();
  }, [open]);
  const close = (): void => {
    if (ref.current?.open) ref.current.close();
    onClose();
  };
  const onCancel = (e: SyntheticEvent<HTMLDialogElement>): void => {
    e.preventDefault();
    close();
  };
  const onNativeClose = (): void => {
    if (!ref.current?.open) onClose();
  };
  return (
    <dialog ref={ref} className="modal" aria-labelledby={titleId} onCancel={onCancel} onClose={onNativeClose}>
      <h2 id={titleId}>{title}</h2>
      <CloseModal.Provider value={close}>{open && children}</CloseModal.Provider>
    </dialog>
  );
}

/** A sentence for a refused conversation action. */
export function actionErrorText(error: unknown): string {
  if (!(error instanceof ApiError)) return 'Something went wrong. Try again.';
  switch (error.code) {
    case 'not_found':
      return error.message === 'no such user' ? 'There is no user with that name.' : 'That conversation no longer exists, or you are not a member.';
    case 'forbidden':
      return error.message.includes('owner') ? "Only the room's owner can add members." : error.message;
    case 'invalid':
      return `Not accepted: ${error.message}`;
    case 'rate_limited':
      return 'Slow down a little, then try again.';
    case 'network':
      return 'Cannot reach the server.';
    case 'unavailable':
      return 'The server is busy. Try again in a moment.';
    case 'unauthorized':
      return 'Your session has expired.';
    default:
      return error.message;
  }
}

interface FormState {
  busy: boolean;
  error: string | null;
}

/** Runs a dialog's action: busy while it runs, the error text when it fails, `done` when it succeeds. */
function useAction(): [FormState, (action: () => Promise<void>) => Promise<void>] {
  const [state, setState] = useState<FormState>({ busy: false, error: null });
  const run = async (action: () => Promise<void>): Promise<void> => {
    setState({ busy: true, error: null });
    try {
      await action();
      setState({ busy: false, error: null });
    } catch (error) {
      setState({ busy: false, error: actionErrorText(error) });
    }
  };
  return [state, run];
}

function FormError({ text }: { text: string | null }) {
  return text ? (
    <p className="form-error" role="alert">
      {text}
    </p>
  ) : null;
}

export function NewRoomDialog({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: (id: string) => void }) {
  return (
    <Modal open={open} title="New room" onClose={onClose}>
      <NewRoomForm onCreated={onCreated} />
    </Modal>
  );
}

function NewRoomForm({ onCreated }: { onCreated: (id: string) => void }) {
  const store = useChatStore();
  const onClose = useCloseModal();
  const [name, setName] = useState('');
  const [isPrivate, setPrivate] = useState(false);
  const [state, run] = useAction();
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    const trimmed = name.trim();
    if (trimmed.length === 0) return;
    void run(async () => {
      const room = await store.createRoom(trimmed, isPrivate);
      onClose();
      onCreated(room.id);
    });
  };
  return (
    <form onSubmit={submit}>
      <label>
        Room name
        <input name="room-name" autoFocus required maxLength={64} value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label className="check">
        <input type="checkbox" name="private" checked={isPrivate} onChange={(e) => setPrivate(e.target.checked)} />
        Private — only people the owner adds can join
      </label>
      <FormError text={state.error} />
      <div className="dialog-actions">
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={state.busy || name.trim().length === 0}>
          Create room
        </button>
      </div>
    </form>
  );
}

export function NewDmDialog({ open, onClose, onOpened }: { open: boolean; onClose: () => void; onOpened: (id: string) => void }) {
  return (
    <Modal open={open} title="New message" onClose={onClose}>
      <UsernameForm
        label="Username"
        submitText="Start conversation"
        onSubmit={async (store, username, close) => {
          const dm = await store.openDm(username);
          close();
          onOpened(dm.id);
        }}
      />
    </Modal>
  );
}

export function AddMemberDialog({ open, conv, onClose }: { open: boolean; conv: string; onClose: () => void }) {
  return (
    <Modal open={open} title="Add a member" onClose={onClose}>
      <UsernameForm
        label="Username"
        submitText="Add"
        onSubmit={async (store, username, close) => {
          await store.addMember(conv, username);
          close();
        }}
      />
    </Modal>
  );
}

function UsernameForm({
  label,
  submitText,
  onSubmit,
}: {
  label: string;
  submitText: string;
  onSubmit: (store: ReturnType<typeof useChatStore>, username: string, close: () => void) => Promise<void>;
}) {
  const store = useChatStore();
  const onClose = useCloseModal();
  const [username, setUsername] = useState('');
  const [state, run] = useAction();
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    const name = username.trim();
    if (name.length === 0) return;
    void run(() => onSubmit(store, name, onClose));
  };
  return (
    <form onSubmit={submit}>
      <label>
        {label}
        <input name="username" autoFocus autoCapitalize="none" spellCheck={false} maxLength={32} value={username} onChange={(e) => setUsername(e.target.value)} />
      </label>
      <FormError text={state.error} />
      <div className="dialog-actions">
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={state.busy || username.trim().length === 0}>
          {submitText}
        </button>
      </div>
    </form>
  );
}

export function LeaveDialog({ open, conv, name, onClose }: { open: boolean; conv: string; name: string; onClose: () => void }) {
  return (
    <Modal open={open} title="Leave room?" onClose={onClose}>
      <LeaveForm conv={conv} name={name} />
    </Modal>
  );
}

function LeaveForm({ conv, name }: { conv: string; name: string }) {
  const store = useChatStore();
  const onClose = useCloseModal();
  const [state, run] = useAction();
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          await store.leaveRoom(conv);
          onClose();
        });
      }}
    >
      <p>
        You will stop receiving messages from <strong><bdi>{name}</bdi></strong>.
      </p>
      <FormError text={state.error} />
      <div className="dialog-actions">
        <button type="button" onClick={onClose} autoFocus>
          Stay
        </button>
        <button type="submit" className="danger" disabled={state.busy}>
          Leave room
        </button>
      </div>
    </form>
  );
}
