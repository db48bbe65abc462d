"""CRUD endpoints for users."""

from fastapi import APIRouter, HTTPException, Response, status

from models import User, UserCreate, UserRole
from storage import InMemoryStore

router = APIRouter(prefix="/users", tags=["users"])

store: InMemoryStore[User] = InMemoryStore()


def seed() -> None:
    """Fill the store with a few demo users (only when empty)."""
    if store.list():
        return
    for payload in (
        UserCreate(name="Ada Lovelace", email="ada@example.com", role=UserRole.admin, bio="First programmer."),
        UserCreate(name="Alan Turing", email="alan@example.com", bio="Computability and codebreaking."),
        UserCreate(name="Grace Hopper", email="grace@example.com", role=UserRole.viewer),
    ):
        create_user(payload)


def _get_or_404(user_id: int) -> User:
    user = store.get(user_id)
    if user is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"User {user_id} not found")
    return user


@router.get("", response_model=list[User])
def list_users(role: UserRole | None = None) -> list[User]:
    """All users, optionally only those with ``role``."""
    users = store.list()
    if role is not None:
        users = [u for u in users if u.role == role]
    return users


@router.post("", response_model=User, status_code=status.HTTP_201_CREATED)
def create_user(payload: UserCreate) -> User:
    """Create a user; 409 when the email is already taken."""
    email = payload.email.lower()
    if any(u.email.lower() == email for u in store.list()):
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=f"Email {payload.email} is already registered")
    user = User(id=store.next_id(), **payload.model_dump())
    return store.put(user.id, user)


@router.get("/{user_id}", response_model=User)
def get_user(user_id: int) -> User:
    """One user by id; 404 when absent."""
    return _get_or_404(user_id)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_user(user_id: int) -> Response:
    """Delete a user; 404 when absent."""
    _get_or_404(user_id)
    store.delete(user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
