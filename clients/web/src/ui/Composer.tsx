import { useLayoutEffect, useRef, useState, type KeyboardEvent } from 'react';
import { useChatStore } from './useStore';

const maxBody = 4000;

/** The message box: Enter sends, Shift+Enter starts a new line; it grows with its text. */
export function Composer({ conv, label }: { conv: string; label: string }) {
  const store = useChatStore();
  const [text, setText] = useState('');
  const ref = useRef<HTMLTextAreaElement>(null);
  const length = [...text].length;
  const tooLong = length > maxBody;

  useLayoutEffect(() => {
    const area = ref.current;
    if (!area) return;
    // Sized through the CSSOM (allowed by the CSP, unlike style attributes in markup).
    area.style.height = 'auto';
    area.style.height = `${Math.min(area.scrollHeight, 160)}px`;
  }, [text]);

  const send = (): void => {
    const body = text.replace(/\s+$/u, '');
    if (body.trim().length === 0 || tooLong) return;
    store.send(conv, body);
    setText('');
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>): void => {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      send();
    }
  };

  return (
    <form
      className="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <textarea
        ref={ref}
        rows={1}
        name="message"
        aria-label={label}
        placeholder="Write a message"
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          if (e.target.value.trim().length > 0) store.typing(conv);
        }}
        onKeyDown={onKeyDown}
        autoFocus
      />
      {length > maxBody - 200 && (
        <span className={`counter${tooLong ? ' over' : ''}`} aria-live="polite">
          {length}/{maxBody}
        </span>
      )}
      <button type="submit" className="primary" disabled={text.trim().length === 0 || tooLong}>
        Send
      </button>
    </form>
  );
}
