import { createContext, useContext, useSyncExternalStore } from 'react';
import type { ChatState, ChatStore } from '../state/store';

export const StoreContext = createContext<ChatStore | null>(null);

export function useChatStore(): ChatStore {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useChatStore outside a StoreContext');
  return store;
}

/** The current state snapshot; re-renders on change. */
export function useChatState(): ChatState {
  const store = useChatStore();
  return useSyncExternalStore(store.subscribe, store.getState);
}
