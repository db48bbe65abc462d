// Typed client for the FastAPI backend (apps/api). In dev, Vite proxies /api to http://127.0.0.1:8000.

import type { components } from '../types/api';

// Response models come from the backend's OpenAPI document: `farm build` regenerates
// ../types/api.ts from the FastAPI app, so a backend change that breaks this client fails the build.
type Schemas = components['schemas'];
export type User = Schemas['User'];
export type UserRole = User['role'];
export type Item = Schemas['Item'];
export type ItemStatus = Item['status'];
export type Dimensions = Schemas['Dimensions'];
export type ChatMessage = Schemas['ChatMessage'];
export type ChatResponse = Schemas['ChatResponse'];
export type ModelInfo = Schemas['ModelInfo'];

// Request bodies: fields with a server-side default stay optional here.
export interface UserCreate {
  name: string;
  email: string;
  role?: UserRole;
  bio?: string | null;
}

export interface ChatRequest {
  messages: ChatMessage[];
  model?: string;
  temperature?: number;
}

export interface Health {
  status: string;
  version: string;
  environment: string;
}

/** An HTTP error from the API, with FastAPI's `detail` when present. */
export class ApiError extends Error {
  readonly status: number;
  readonly detail: unknown;

  constructor(status: number, detail: unknown) {
    super(ApiError.describe(status, detail));
    this.name = 'ApiError';
    this.status = status;
    this.detail = detail;
  }

  private static describe(status: number, detail: unknown): string {
    if (typeof detail === 'string') return `${status}: ${detail}`;
    if (Array.isArray(detail)) {
      const parts = detail.map((d) =>
        typeof d === 'object' && d !== null && 'msg' in d ? String((d as { msg: unknown }).msg) : JSON.stringify(d),
      );
      return `${status}: ${parts.join('; ')}`;
    }
    return `HTTP ${status}`;
  }
}

const BASE_URL: string = import.meta.env.VITE_API_URL ?? '';

async function request<T>(path: string, init: RequestInit = {}, signal?: AbortSignal): Promise<T> {
  const headers = new Headers(init.headers);
  if (init.body !== undefined) headers.set('Content-Type', 'application/json');
  headers.set('Accept', 'application/json');
  const response = await fetch(`${BASE_URL}${path}`, { ...init, headers, signal });
  if (!response.ok) {
    let detail: unknown = response.statusText;
    try {
      const body: unknown = await response.json();
      if (typeof body === 'object' && body !== null && 'detail' in body) detail = (body as { detail: unknown }).detail;
    } catch {
      // Non-JSON error body: keep the status text.
    }
    throw new ApiError(response.status, detail);
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

function query(params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== '') search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export const api = {
  health: (signal?: AbortSignal) => request<Health>('/api/health', {}, signal),

  listUsers: (role?: UserRole, signal?: AbortSignal) => request<User[]>(`/api/users${query({ role })}`, {}, signal),
  getUser: (id: number, signal?: AbortSignal) => request<User>(`/api/users/${id}`, {}, signal),
  createUser: (payload: UserCreate) =>
    request<User>('/api/users', { method: 'POST', body: JSON.stringify(payload) }),
  deleteUser: (id: number) => request<void>(`/api/users/${id}`, { method: 'DELETE' }),

  listItems: (filter: { status?: ItemStatus; tag?: string } = {}, signal?: AbortSignal) =>
    request<Item[]>(`/api/items${query(filter)}`, {}, signal),
  getItem: (id: number, signal?: AbortSignal) => request<Item>(`/api/items/${id}`, {}, signal),
  setItemStatus: (id: number, status: ItemStatus) =>
    request<Item>(`/api/items/${id}/status${query({ value: status })}`, { method: 'PATCH' }),

  chat: (payload: ChatRequest, signal?: AbortSignal) =>
    request<ChatResponse>('/api/ai/chat', { method: 'POST', body: JSON.stringify(payload) }, signal),
  listModels: (signal?: AbortSignal) => request<ModelInfo[]>('/api/ai/models', {}, signal),
};
